// The key set and access order shared by the in-process benchmarks, so their figures compare.
// SPDX-License-Identifier: MIT
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace ttlcache::bench {

inline constexpr std::size_t key_count = 100'000;
inline constexpr std::size_t trace_length = 1 << 20;

/// Keys like "user:00012345:profile" (heap-allocated strings, as real keys are).
inline const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> out;
    out.reserve(key_count);
    char buf[32];
    for (std::size_t i = 0; i < key_count; ++i) {
      std::snprintf(buf, sizeof buf, "user:%08zu:profile", i);
      out.emplace_back(buf);
    }
    return out;
  }();
  return k;
}

/// Values short enough for the small-string buffer: a hit's copy allocates in no contestant.
inline std::string value_for(std::size_t i) { return "v" + std::to_string(i); }

/// A fixed pseudo-random access order over keys(), the same for every contestant.
inline const std::vector<std::uint32_t>& trace() {
  static const std::vector<std::uint32_t> t = [] {
    std::mt19937 rng(42);
    std::uniform_int_distribution<std::uint32_t> dist(0, key_count - 1);
    std::vector<std::uint32_t> out(trace_length);
    for (auto& x : out) x = dist(rng);
    return out;
  }();
  return t;
}

/// Runs fn(key) along trace() once per iteration; each thread starts at its own offset.
template <class Fn>
void run_trace(benchmark::State& state, Fn&& fn) {
  const auto& t = trace();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (trace_length / 8);
  for (auto _ : state) {
    fn(keys()[t[i & (trace_length - 1)]]);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace ttlcache::bench

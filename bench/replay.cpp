// Trace replay: hit ratio and throughput of the in-process backend on a recorded key trace.
// SPDX-License-Identifier: MIT
//
// Usage: replay [--policy lru|tinylfu] [--shards N] [--format auto|xz-int32be|text]
//               TRACE CAPACITY [CAPACITY...]
// Each record is replayed as get(key) and, on a miss, set(key) (the convention of the traces'
// README). Formats: xz-compressed big-endian int32 (cache2k traces, decompressed with `xz -dc`)
// or text with one decimal integer per line (libCacheSim samples). "auto" picks by extension.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "trace_reader.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/tinylfu_policy.hpp"

namespace {

struct Result {
  double hit_ratio;
  double million_ops_per_s;
};

template <class Policy>
Result replay(const std::vector<std::int64_t>& trace, std::size_t capacity, std::uint32_t shards) {
  ttlcache::MemoryOptions<std::int64_t, std::int64_t> o;
  o.max_entries = capacity;
  o.shards = shards;
  ttlcache::MemoryBackend<std::int64_t, std::int64_t, Policy> cache(o);
  std::size_t hits = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const std::int64_t key : trace) {
    if (cache.get(key)) {
      ++hits;
    } else {
      cache.set(key, key, std::chrono::hours(24));
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {static_cast<double>(hits) / static_cast<double>(trace.size()),
          static_cast<double>(trace.size()) / seconds / 1e6};
}

int usage() {
  std::fprintf(stderr,
               "usage: replay [--policy lru|tinylfu] [--shards N] [--format auto|xz-int32be|text] "
               "TRACE CAPACITY [CAPACITY...]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string policy = "lru";
  std::string format = "auto";
  std::uint32_t shards = 1;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--policy" || arg == "--shards" || arg == "--format") && i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "--policy") policy = value;
      if (arg == "--shards") shards = static_cast<std::uint32_t>(std::stoul(value));
      if (arg == "--format") format = value;
    } else if (arg.substr(0, 2) == "--") {
      return usage();
    } else {
      positional.emplace_back(arg);
    }
  }
  if (positional.size() < 2) return usage();
  const std::string& path = positional[0];
  std::vector<std::int64_t> trace;
  try {
    trace = ttlcache::bench::read_trace(path, format);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "replay: %s\n", e.what());
    return 1;
  }
  if (trace.empty()) {
    std::fprintf(stderr, "replay: no records read from %s\n", path.c_str());
    return 1;
  }
  std::printf("trace %s: %zu requests, policy %s, %u shard(s)\n", path.c_str(), trace.size(),
              policy.c_str(), shards);
  std::printf("%10s %10s %12s\n", "capacity", "hit %", "Mops/s");
  for (std::size_t i = 1; i < positional.size(); ++i) {
    const std::size_t capacity = std::stoul(positional[i]);
    Result r{};
    if (policy == "lru") {
      r = replay<ttlcache::LruPolicy>(trace, capacity, shards);
    } else if (policy == "tinylfu") {
      r = replay<ttlcache::TinyLfuPolicy>(trace, capacity, shards);
    } else {
      std::fprintf(stderr, "replay: unknown policy '%s' (have: lru, tinylfu)\n", policy.c_str());
      return 2;
    }
    std::printf("%10zu %10.2f %12.2f\n", capacity, 100.0 * r.hit_ratio, r.million_ops_per_s);
  }
  return 0;
}

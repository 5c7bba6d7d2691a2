// DynamicTTL hot path: ttl_for on a typical policy, against a fixed per-type TTL map lookup.
// SPDX-License-Identifier: MIT
#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ttlcache/clock.hpp"
#include "ttlcache/dynamic_ttl.hpp"

namespace {

using namespace std::chrono_literals;

// The 9 shipped types plus one of the user's own, and one unknown type: 11 names to cycle.
const std::array<std::string_view, 11> type_names = {
    "user_stats", "file_content", "file_list", "markdown_render", "search_results", "public_stats",
    "bookmarks",  "tags",         "settings",  "thumbnails",      "not_configured"};

std::vector<ttlcache::Context> contexts() {
  return {
      {},
      {{"is_favorite", true}},
      {{"is_favorite", false}, {"last_modified_hours_ago", 0.25}, {"user_tier", "free"}},
      {{"access_frequency", "high"}, {"user_tier", "premium"}, {"request_id", "abc123"}},
      {{"is_favorite", true},
       {"last_modified_hours_ago", 12},
       {"access_frequency", "low"},
       {"user_tier", "premium"}},
  };
}

// Typical policy: 10 content types, the 4 default rules, the 3 default windows, 10 % jitter.
ttlcache::DynamicTtlConfig typical(bool local_time) {
  auto config = ttlcache::DynamicTtlConfig::defaults();
  config.content_types.emplace_back("thumbnails", 900s);
  config.seed = 1;
  if (!local_time) config.utc_offset = 0min;
  return config;
}

void run(benchmark::State& state, const ttlcache::TtlPolicy& policy) {
  const auto ctx = contexts();
  std::size_t i = 0;
  for (auto _ : state) {
    const auto ttl = policy.ttl_for(type_names[i % type_names.size()], ctx[i % ctx.size()]);
    benchmark::DoNotOptimize(ttl);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

// Baseline: what a fixed TTL per content type costs (one transparent std::map lookup).
void BM_baseline_fixed_map(benchmark::State& state) {
  std::map<std::string, std::chrono::milliseconds, std::less<>> fixed;
  for (const auto& type : typical(true).content_types) fixed.emplace(type.name, type.ttl);
  std::size_t i = 0;
  for (auto _ : state) {
    const auto it = fixed.find(type_names[i % type_names.size()]);
    auto ttl = it == fixed.end() ? std::chrono::milliseconds(300'000) : it->second;
    benchmark::DoNotOptimize(ttl);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_fixed_map);

// The shipped configuration: process local time, real clock.
void BM_dynamic_ttl_typical(benchmark::State& state) {
  static const ttlcache::DynamicTTL policy(typical(true));
  run(state, policy);
}
BENCHMARK(BM_dynamic_ttl_typical)->ThreadRange(1, 2);

// A fixed UTC offset: no time-zone lookup at all.
void BM_dynamic_ttl_utc(benchmark::State& state) {
  static const ttlcache::DynamicTTL policy(typical(false));
  run(state, policy);
}
BENCHMARK(BM_dynamic_ttl_utc);

// An injected clock (a virtual wall_now() instead of the vDSO clock_gettime).
void BM_dynamic_ttl_fake_clock(benchmark::State& state) {
  static const ttlcache::DynamicTTL policy(typical(true), std::make_shared<ttlcache::FakeClock>());
  run(state, policy);
}
BENCHMARK(BM_dynamic_ttl_fake_clock);

// No windows: the clock is not read at all.
void BM_dynamic_ttl_no_windows(benchmark::State& state) {
  auto config = typical(true);
  config.windows.clear();
  static const ttlcache::DynamicTTL policy(config);
  run(state, policy);
}
BENCHMARK(BM_dynamic_ttl_no_windows);

// explain() allocates and formats nothing but strings for the names; for scale only.
void BM_dynamic_ttl_explain(benchmark::State& state) {
  static const ttlcache::DynamicTTL policy(typical(true));
  const auto ctx = contexts();
  std::size_t i = 0;
  for (auto _ : state) {
    auto e = policy.explain(type_names[i % type_names.size()], ctx[i % ctx.size()]);
    benchmark::DoNotOptimize(e);
    ++i;
  }
}
BENCHMARK(BM_dynamic_ttl_explain);

}  // namespace

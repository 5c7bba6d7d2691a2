// DynamicTTL: ttl_for against a fixed per-type map lookup; ttl_for_group against ttl_for;
// loading by number of content types; rejection of hostile policies.
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
#include "ttlcache/errors.hpp"

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

// Adaptive TTL with key groups (docs/dynamic-ttl.md, "Key groups"): the typical policy with
// adaptation on and 100 groups of every type observed once. ttl_for (no group) is the baseline
// of ttl_for_group: a tracked group adds a shared lock and a std::map lookup on the type's
// groups; an untracked one the same lookup, missing.
const ttlcache::DynamicTTL& grouped_policy() {
  static const auto policy = [] {
    auto config = typical(true);
    config.adaptive.enabled = true;
    auto p = std::make_shared<ttlcache::DynamicTTL>(config);
    for (const auto type : type_names) {
      for (int g = 0; g < 100; ++g) {
        const std::string group = "tenant:" + std::to_string(g);
        ttlcache::TtlObservation o;
        o.kind = ttlcache::TtlObservation::Kind::read;
        o.content_type = type;
        o.group = group;
        p->observe(o);
      }
    }
    return p;
  }();
  return *policy;
}
void BM_adaptive_no_group(benchmark::State& state) { run(state, grouped_policy()); }
BENCHMARK(BM_adaptive_no_group)->ThreadRange(1, 2);
void run_groups(benchmark::State& state, const char* prefix) {
  const auto& policy = grouped_policy();
  const auto ctx = contexts();
  std::vector<std::string> groups;
  for (int g = 0; g < 100; ++g) groups.push_back(prefix + std::to_string(g));
  std::size_t i = 0;
  for (auto _ : state) {
    const auto ttl = policy.ttl_for_group(type_names[i % type_names.size()],
                                          groups[i % groups.size()], ctx[i % ctx.size()]);
    benchmark::DoNotOptimize(ttl);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_adaptive_group_tracked(benchmark::State& state) { run_groups(state, "tenant:"); }
BENCHMARK(BM_adaptive_group_tracked)->ThreadRange(1, 2);
void BM_adaptive_group_untracked(benchmark::State& state) { run_groups(state, "other:"); }
BENCHMARK(BM_adaptive_group_untracked);

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

// A policy of n content types, each an object with its own bounds (the worst realistic shape).
std::string policy_json(std::int64_t n) {
  std::string json = R"({"time_zone": "UTC", "content_types": {)";
  for (std::int64_t i = 0; i < n; ++i) {
    if (i > 0) json += ", ";
    json += R"("type_)" + std::to_string(i) + R"(": {"ttl": 60, "min_ttl": 10, "max_ttl": 600})";
  }
  json += "}}";
  return json;
}

// {"content_types": {"t0": 60, ...}} with n shorthand types.
std::string shorthand_json(int n) {
  std::string json = R"({"content_types": {)";
  for (int i = 0; i < n; ++i) json += (i > 0 ? ", \"t" : "\"t") + std::to_string(i) + "\": 60";
  json += "}}";
  return json;
}

// from_json of n types; the per-type time (items/s) should not fall as n grows.
void BM_load_types(benchmark::State& state) {
  const std::string json = policy_json(state.range(0));
  for (auto _ : state) {
    auto config = ttlcache::DynamicTtlConfig::from_json(json);
    benchmark::DoNotOptimize(config);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetComplexityN(state.range(0));
}
BENCHMARK(BM_load_types)
    ->Arg(5000)
    ->Arg(10000)
    ->Arg(20000)
    ->Arg(40000)
    ->Unit(benchmark::kMillisecond)
    ->Complexity(benchmark::oN);

// Rejection of a policy that is too big: `shorthand_json(range)` then from_json.
void BM_reject(benchmark::State& state) {
  const std::string json = shorthand_json(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    try {
      (void)ttlcache::DynamicTtlConfig::from_json(json);
      state.SkipWithError("accepted a policy over the limits");
      break;
    } catch (const ttlcache::config_error& e) {
      benchmark::DoNotOptimize(e.what());
    }
  }
  state.counters["bytes"] = static_cast<double>(json.size());
}
// 600,000 types = 10 MB, the attack from issue 18 (over the byte cap: refused before parsing);
// 200,000 types = 3.3 MB (under the cap: stopped while parsing, at the 65537th type).
BENCHMARK(BM_reject)->Arg(600'000)->Arg(200'000)->Unit(benchmark::kMillisecond);

}  // namespace

// Strict LRU on real traces: a single-shard MemoryBackend must reproduce the reference LRU
// hit ratios of ../shared/traces/README.md (within 0.1 points).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "support/trace_replay.hpp"
#include "trace_reader.hpp"
#include "ttlcache/memory_backend.hpp"

namespace {
using ttlcache::testing::traces_available;

double lru_hit_ratio(const std::vector<std::int64_t>& trace, std::size_t capacity) {
  return ttlcache::testing::hit_ratio<ttlcache::LruPolicy>(trace, capacity);
}
}  // namespace

TEST_CASE("single-shard LRU matches the reference table on cloudPhysicsIO", "[trace][eviction]") {
  const std::string file = std::string(TTLCACHE_TRACES_DIR) + "/libcachesim-cloudPhysicsIO.txt";
  if (!traces_available(file)) return;
  const auto trace = ttlcache::bench::read_trace(file);
  REQUIRE(trace.size() == 113872);
  CHECK(lru_hit_ratio(trace, 1000) == Approx(16.73).margin(0.1));
  CHECK(lru_hit_ratio(trace, 5000) == Approx(19.62).margin(0.1));
  CHECK(lru_hit_ratio(trace, 10000) == Approx(30.24).margin(0.1));
  CHECK(lru_hit_ratio(trace, 20000) == Approx(36.72).margin(0.1));
}

TEST_CASE("single-shard LRU matches the reference table on orm-busy", "[trace][eviction]") {
  const std::string file = std::string(TTLCACHE_TRACES_DIR) + "/cache2k-orm-busy.trace.xz";
  if (!traces_available(file)) return;
  const auto trace = ttlcache::bench::read_trace(file);
  REQUIRE(trace.size() == 5000000);
  CHECK(lru_hit_ratio(trace, 5000) == Approx(85.46).margin(0.1));
}

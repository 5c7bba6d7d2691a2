// Helpers for tests on the real traces: locating them (CI-aware) and replaying them.
// SPDX-License-Identifier: MIT
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "ttlcache/memory_backend.hpp"

namespace ttlcache::testing {

/// True when the trace file exists. Missing in CI (CI=true) is a failure, never a skip;
/// elsewhere a warning.
inline bool traces_available(const std::string& file) {
  if (std::ifstream(file).good()) return true;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true") {
    FAIL("trace " << file << " is missing; CI must have ../shared/traces beside the clone");
  }
  WARN("trace " << file << " not found; skipped (clone ../shared beside the repository)");
  return false;
}

/// Hit ratio in percent of a single-shard cache of `capacity` entries replaying the trace
/// (get; on a miss, set), as the traces' README prescribes.
template <class Policy = LruPolicy>
double hit_ratio(const std::vector<std::int64_t>& trace, std::size_t capacity) {
  MemoryOptions<std::int64_t, std::int64_t> o;
  o.max_entries = capacity;
  o.shards = 1;
  MemoryBackend<std::int64_t, std::int64_t, Policy> cache(o);
  std::size_t hits = 0;
  for (const std::int64_t key : trace) {
    if (cache.get(key)) {
      ++hits;
    } else {
      cache.set(key, key, std::chrono::hours(24));
    }
  }
  return 100.0 * static_cast<double>(hits) / static_cast<double>(trace.size());
}

}  // namespace ttlcache::testing

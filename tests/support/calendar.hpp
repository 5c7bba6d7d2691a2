// Wall times on a known Monday, for the DynamicTTL tests (unit/test_dynamic_ttl.cpp and its
// concurrency case in unit/test_concurrency_dynamic_ttl.cpp).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>

namespace ttlcache_test {

inline constexpr std::int64_t monday_2024_01_01 = 1704067200;  // 00:00:00 UTC, a Monday

// Wall time on day `day` (0 = Monday 2024-01-01) at hh:mm UTC.
inline std::chrono::system_clock::time_point at(int day, int hour, int minute = 0) {
  return std::chrono::system_clock::time_point(
      std::chrono::seconds(monday_2024_01_01 + day * 86400LL + hour * 3600LL + minute * 60LL));
}

}  // namespace ttlcache_test

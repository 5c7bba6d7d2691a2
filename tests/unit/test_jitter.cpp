// Tests for Jitter over explicit TTLs: the band, the distribution, seeding (concurrency:
// test_concurrency_dynamic_ttl.cpp).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "ttlcache/errors.hpp"
#include "ttlcache/jitter.hpp"

using namespace std::chrono_literals;
using ttlcache::Jitter;

TEST_CASE("jitter keeps explicit TTLs within the band, spread evenly", "[jitter]") {
  const Jitter jitter(10.0, 42);
  constexpr int draws = 100'000;
  constexpr int buckets = 10;
  std::array<int, buckets> counts{};
  double sum = 0.0;
  std::int64_t lowest = 60'000;
  std::int64_t highest = 60'000;
  for (int i = 0; i < draws; ++i) {
    const std::int64_t ms = jitter.apply(60s).count();
    lowest = std::min(lowest, ms);
    highest = std::max(highest, ms);
    sum += static_cast<double>(ms);
    // [54000, 66000] in 10 buckets of 1200 ms.
    const auto bucket = std::min<std::int64_t>((ms - 54'000) / 1'200, buckets - 1);
    REQUIRE(bucket >= 0);
    ++counts[static_cast<std::size_t>(bucket)];
  }
  CHECK(lowest >= 54'000);
  CHECK(highest <= 66'000);
  // The band is really used: both ends reached within 0.1 %.
  CHECK(lowest < 54'060);
  CHECK(highest > 65'940);
  // Uniform: each bucket within 5 % of draws/buckets (the binomial sd is 0.95 %), and the mean
  // within 0.2 % of the TTL.
  for (int count : counts) {
    INFO("bucket count " << count);
    CHECK(count > 9'500);
    CHECK(count < 10'500);
  }
  CHECK(sum / draws == Approx(60'000.0).epsilon(0.002));
}

TEST_CASE("jitter: a seed fixes the sequence, other seeds differ, 0 disables", "[jitter]") {
  const Jitter a(20.0, 7);
  const Jitter b(20.0, 7);
  const Jitter c(20.0, 8);
  int differing = 0;
  for (int i = 0; i < 1000; ++i) {
    const auto x = a.apply(10s);
    CHECK(x == b.apply(10s));
    if (x != c.apply(10s)) ++differing;
  }
  CHECK(differing > 990);
  const Jitter off(0.0, 7);
  CHECK_FALSE(off.enabled());
  CHECK(off.apply(10s) == 10s);
  CHECK(Jitter().apply(1234ms) == 1234ms);
  // Short TTLs never reach 0; non-positive ones are left for the caller to reject.
  const Jitter wide(99.0, 1);
  for (int i = 0; i < 1000; ++i) CHECK(wide.apply(1ms) >= 1ms);
  CHECK(wide.apply(0ms) == 0ms);
  CHECK(wide.apply(-5ms) == -5ms);
  CHECK_THROWS_AS(Jitter(100.0), ttlcache::config_error);
  CHECK_THROWS_AS(Jitter(-1.0), ttlcache::config_error);
  CHECK_THROWS_AS(Jitter(std::nan("")), ttlcache::config_error);
}

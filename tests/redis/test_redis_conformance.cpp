// The backend conformance suite, unchanged, against Redis (a fresh namespace per backend).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "conformance/backend_conformance.hpp"
#include "redis_test_support.hpp"
#include "ttlcache/redis.hpp"

TEST_CASE("the Redis backend keeps the Backend contract", "[redis][conformance]") {
  ttlcache::testing::ConformanceFixture fixture;
  fixture.make_backend = [] {
    return ttlcache::redis::make_backend<std::string, std::string>(ttlcache_test::options_for(
        ttlcache_test::shared_server(), ttlcache_test::unique_namespace("conformance")));
  };
  // Redis expires by its own clock, so time has to pass for real; 250 ms units keep the suite
  // short while scheduling noise (sanitizers, a busy machine) stays well inside one unit.
  fixture.let_time_pass = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  fixture.unit = std::chrono::milliseconds(250);
  ttlcache::testing::run_backend_conformance(fixture);
}

// The backend conformance suite: the Backend contract, checked the same way on every backend.
// SPDX-License-Identifier: MIT
#pragma once

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ttlcache/backend.hpp"
#include "ttlcache/errors.hpp"

namespace ttlcache::testing {

using StringBackend = Backend<std::string, std::string>;

/// What a backend under test provides.
struct ConformanceFixture {
  /// A new, empty backend (for Redis: a fresh namespace).
  std::function<std::shared_ptr<StringBackend>()> make_backend;
  /// Lets time pass for the backend: FakeClock::advance for in-process, a sleep for Redis.
  std::function<void(std::chrono::milliseconds)> let_time_pass;
  /// TTLs in the expiry checks are small multiples of this (large enough that a real-time
  /// backend's scheduling noise stays well inside one unit).
  std::chrono::milliseconds unit{1000};
};

/// Runs every check; call it inside a TEST_CASE (it uses SECTIONs).
inline void run_backend_conformance(const ConformanceFixture& fx) {
  using std::chrono::milliseconds;
  const milliseconds unit = fx.unit;
  const milliseconds long_ttl = std::chrono::minutes(10);
  auto backend = fx.make_backend();
  REQUIRE(backend);
  StringBackend& b = *backend;

  SECTION("a missing key is a miss, not an error") {
    CHECK_FALSE(b.get("absent").has_value());
    CHECK_FALSE(b.contains("absent"));
    CHECK_FALSE(b.ttl("absent").has_value());
    CHECK_FALSE(b.erase("absent"));
  }

  SECTION("set then get returns the value; set again replaces it") {
    b.set("k", "v1", long_ttl);
    CHECK(b.get("k") == std::optional<std::string>("v1"));
    CHECK(b.contains("k"));
    b.set("k", "v2", long_ttl);
    CHECK(b.get("k") == std::optional<std::string>("v2"));
    CHECK(b.size() == 1);
  }

  SECTION("erase removes a live entry and reports it") {
    b.set("k", "v", long_ttl);
    CHECK(b.erase("k"));
    CHECK_FALSE(b.get("k").has_value());
    CHECK_FALSE(b.erase("k"));
  }

  SECTION("keys and values are binary-safe") {
    const std::string key("bin\0key\r\n\xff", 10);
    const std::string value("\0\x01\r\n\xff\xfe value", 13);
    b.set(key, value, long_ttl);
    CHECK(b.get(key) == std::optional<std::string>(value));
    CHECK_FALSE(b.get(std::string("bin")).has_value());  // no truncation at the NUL
    b.set("empty", "", long_ttl);
    CHECK(b.get("empty") == std::optional<std::string>(""));
    const std::string big(200 * 1024, 'x');
    b.set("big", big, long_ttl);
    CHECK(b.get("big") == std::optional<std::string>(big));
  }

  SECTION("an entry is never returned once its TTL has passed") {
    b.set("short", "v", 3 * unit);
    fx.let_time_pass(unit);
    CHECK(b.get("short").has_value());
    const auto left = b.ttl("short");
    REQUIRE(left.has_value());
    CHECK(*left > milliseconds(0));
    CHECK(*left <= 3 * unit);
    fx.let_time_pass(3 * unit);
    CHECK_FALSE(b.get("short").has_value());
    CHECK_FALSE(b.contains("short"));
    CHECK_FALSE(b.ttl("short").has_value());
    CHECK_FALSE(b.erase("short"));  // expired: nothing live to erase
  }

  SECTION("each entry keeps its own TTL") {
    b.set("a", "1", 2 * unit);
    b.set("b", "2", 8 * unit);
    fx.let_time_pass(4 * unit);
    CHECK_FALSE(b.get("a").has_value());
    CHECK(b.get("b") == std::optional<std::string>("2"));
  }

  SECTION("overwriting an entry restarts its TTL") {
    b.set("k", "old", 3 * unit);
    fx.let_time_pass(2 * unit);
    b.set("k", "new", 3 * unit);
    fx.let_time_pass(2 * unit);
    CHECK(b.get("k") == std::optional<std::string>("new"));
  }

  SECTION("a non-positive TTL is rejected and changes nothing") {
    b.set("k", "kept", long_ttl);
    CHECK_THROWS_AS(b.set("k", "lost", milliseconds(0)), argument_error);
    CHECK_THROWS_AS(b.set("k", "lost", milliseconds(-5)), argument_error);
    CHECK(b.get("k") == std::optional<std::string>("kept"));
    CHECK_THROWS_AS(b.set("other", "x", milliseconds(0)), argument_error);
    CHECK_FALSE(b.contains("other"));
  }

  SECTION("get_many answers in the caller's order, misses included") {
    b.set("one", "1", long_ttl);
    b.set("three", "3", long_ttl);
    const auto got = b.get_many({"one", "two", "three", "one"});
    REQUIRE(got.size() == 4);
    CHECK(got[0] == std::optional<std::string>("1"));
    CHECK_FALSE(got[1].has_value());
    CHECK(got[2] == std::optional<std::string>("3"));
    CHECK(got[3] == std::optional<std::string>("1"));
    CHECK(b.get_many({}).empty());
  }

  SECTION("set_many writes every entry with its own TTL") {
    std::vector<Write<std::string, std::string>> items;
    for (int i = 0; i < 100; ++i) {
      items.push_back(
          {"m" + std::to_string(i), "v" + std::to_string(i), i % 2 ? long_ttl : 2 * unit});
    }
    b.set_many(items);
    CHECK(b.get("m0") == std::optional<std::string>("v0"));
    CHECK(b.get("m99") == std::optional<std::string>("v99"));
    fx.let_time_pass(3 * unit);
    CHECK_FALSE(b.get("m0").has_value());
    CHECK(b.get("m1") == std::optional<std::string>("v1"));
    CHECK(b.get("m99") == std::optional<std::string>("v99"));
  }

  SECTION("clear removes everything and size counts entries") {
    for (int i = 0; i < 10; ++i) b.set("c" + std::to_string(i), "v", long_ttl);
    CHECK(b.size() == 10);
    b.clear();
    CHECK(b.size() == 0);
    CHECK_FALSE(b.get("c3").has_value());
    b.set("after", "v", long_ttl);
    CHECK(b.get("after").has_value());
  }

  SECTION("concurrent writers and readers see whole values") {
    constexpr int threads = 4;
    constexpr int per_thread = 200;
    std::atomic<int> torn{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          const std::string key = "t" + std::to_string(i % 20);
          const std::string value(32, static_cast<char>('a' + t));
          b.set(key, value, long_ttl);
          if (auto got = b.get(key)) {
            if (got->size() != 32 || got->find_first_not_of((*got)[0]) != std::string::npos) {
              ++torn;
            }
          }
        }
      });
    }
    for (auto& w : workers) w.join();
    CHECK(torn.load() == 0);
    CHECK(b.size() == 20);
  }
}

}  // namespace ttlcache::testing

// Tests for CircuitBreaker: the state machine on a fake clock (many threads through it: in
// test_concurrency_backends.cpp).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/breaker.hpp"
#include "ttlcache/circuit_breaker.hpp"

using namespace std::chrono_literals;
using ttlcache::BreakerOptions;
using ttlcache::BreakerState;
using ttlcache::CircuitBreaker;
using ttlcache::FakeClock;

namespace {

using Recorder = ttlcache_test::BreakerRecorder;
using ttlcache_test::breaker_options;

void fail_once(CircuitBreaker& breaker) {
  auto permit = breaker.acquire();
  REQUIRE(permit);
  permit.failed();
}

}  // namespace

TEST_CASE("the breaker opens after N consecutive failures, and a success resets the count",
          "[breaker]") {
  auto clock = std::make_shared<FakeClock>();
  Recorder events;
  CircuitBreaker breaker(breaker_options(3, 1s), clock, events.listener());

  fail_once(breaker);
  fail_once(breaker);
  CHECK(breaker.consecutive_failures() == 2);
  {
    auto ok = breaker.acquire();
    REQUIRE(ok);
    CHECK_FALSE(ok.probe());
    ok.succeeded();
  }
  CHECK(breaker.consecutive_failures() == 0);  // not consecutive any more
  fail_once(breaker);
  fail_once(breaker);
  CHECK(breaker.state() == BreakerState::closed);
  fail_once(breaker);
  CHECK(breaker.state() == BreakerState::open);
  CHECK(events.changes == std::vector<std::string>{"closed->open"});
  CHECK(breaker.counters().opened == 1);
}

TEST_CASE("an open breaker fails fast, then lets exactly one probe through, and success closes it",
          "[breaker]") {
  auto clock = std::make_shared<FakeClock>();
  Recorder events;
  CircuitBreaker breaker(breaker_options(2, 500ms), clock, events.listener());
  fail_once(breaker);
  fail_once(breaker);
  REQUIRE(breaker.state() == BreakerState::open);

  // Fail fast during the cool-down.
  for (int i = 0; i < 5; ++i) CHECK_FALSE(breaker.acquire());
  CHECK(breaker.retry_in() == 500ms);
  clock->advance(499ms);
  CHECK_FALSE(breaker.acquire());
  CHECK(breaker.retry_in() == 1ms);
  CHECK(breaker.counters().rejected == 6);

  clock->advance(1ms);
  auto probe = breaker.acquire();
  REQUIRE(probe);
  CHECK(probe.probe());
  CHECK(breaker.state() == BreakerState::half_open);
  // While the probe is out, everyone else still fails fast, whatever the time.
  clock->advance(10s);
  CHECK_FALSE(breaker.acquire());
  CHECK_FALSE(breaker.acquire());

  probe.succeeded();
  CHECK(breaker.state() == BreakerState::closed);
  auto normal = breaker.acquire();
  CHECK(normal);
  CHECK_FALSE(normal.probe());
  normal.succeeded();
  CHECK(events.changes ==
        std::vector<std::string>{"closed->open", "open->half_open", "half_open->closed"});
  CHECK(breaker.counters().probes == 1);
}

TEST_CASE("a failed probe re-opens the breaker for another cool-down", "[breaker]") {
  auto clock = std::make_shared<FakeClock>();
  Recorder events;
  CircuitBreaker breaker(breaker_options(1, 1s), clock, events.listener());
  fail_once(breaker);
  clock->advance(1s);
  {
    auto probe = breaker.acquire();
    REQUIRE(probe.probe());
    probe.failed();
  }
  CHECK(breaker.state() == BreakerState::open);
  CHECK(breaker.retry_in() == 1s);  // counted from the failed probe, not the first opening
  clock->advance(999ms);
  CHECK_FALSE(breaker.acquire());
  clock->advance(1ms);
  auto probe = breaker.acquire();
  REQUIRE(probe.probe());
  probe.succeeded();
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(events.changes == std::vector<std::string>{"closed->open", "open->half_open",
                                                   "half_open->open", "open->half_open",
                                                   "half_open->closed"});
  CHECK(breaker.counters().opened == 2);
}

TEST_CASE("a probe dropped without a verdict hands the probe to the next caller at once",
          "[breaker]") {
  auto clock = std::make_shared<FakeClock>();
  CircuitBreaker breaker(breaker_options(1, 1s), clock);
  fail_once(breaker);
  clock->advance(1s);
  { auto probe = breaker.acquire(); }  // e.g. the call threw argument_error
  CHECK(breaker.state() == BreakerState::open);
  auto next = breaker.acquire();
  CHECK(next.probe());
}

TEST_CASE("late results of calls admitted while closed do not move an open breaker", "[breaker]") {
  auto clock = std::make_shared<FakeClock>();
  CircuitBreaker breaker(breaker_options(1, 1s), clock);
  auto slow_ok = breaker.acquire();
  auto slow_bad = breaker.acquire();
  fail_once(breaker);
  REQUIRE(breaker.state() == BreakerState::open);
  slow_ok.succeeded();  // not a probe: says nothing about recovery
  CHECK(breaker.state() == BreakerState::open);
  slow_bad.failed();
  CHECK(breaker.state() == BreakerState::open);
  CHECK(breaker.counters().opened == 1);
}

TEST_CASE("breaker options are checked, and a throwing listener is contained", "[breaker]") {
  CHECK_THROWS_AS(CircuitBreaker(breaker_options(0, 1s)), ttlcache::argument_error);
  CHECK_THROWS_AS(CircuitBreaker(breaker_options(1, 0ms)), ttlcache::argument_error);
  CircuitBreaker breaker(breaker_options(1, 1s), nullptr,
                         [](BreakerState, BreakerState) { throw 1; });
  fail_once(breaker);
  CHECK(breaker.state() == BreakerState::open);
}

TEST_CASE("slow-call rate: slow calls open the breaker, fast ones and a short window do not",
          "[breaker][slow]") {
  auto clock = std::make_shared<FakeClock>();
  BreakerOptions o = breaker_options(100, 1s);  // the failure rule stays out of the way
  o.slow_call_duration = 100ms;
  o.slow_call_rate_threshold = 50;
  o.sliding_window = 4;
  o.minimum_calls = 2;
  CircuitBreaker breaker(o, clock);
  const auto call = [&](std::chrono::milliseconds takes, bool ok = true) {
    auto permit = breaker.acquire();
    REQUIRE(permit);
    clock->advance(takes);
    if (ok) {
      permit.succeeded();
    } else {
      permit.failed();
    }
  };
  // Fast calls fill the window; one slow call of four is 25 %: still closed.
  for (int i = 0; i < 4; ++i) call(1ms);
  call(150ms);
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(breaker.counters().slow_calls == 1);
  // A second slow call: 2 of the last 4 (50 %) opens it, although every call succeeded.
  call(100ms);
  CHECK(breaker.state() == BreakerState::open);
  CHECK_FALSE(breaker.acquire());
  // After open_for, a slow probe reopens it; a fast one closes it, with an empty window.
  clock->advance(1s);
  call(120ms);
  CHECK(breaker.state() == BreakerState::open);
  clock->advance(1s);
  call(1ms);
  CHECK(breaker.state() == BreakerState::closed);
  call(200ms);  // 1 of 1: below minimum_calls
  CHECK(breaker.state() == BreakerState::closed);
  // A slow failure counts as slow too.
  call(200ms, false);
  CHECK(breaker.state() == BreakerState::open);
}

TEST_CASE("slow-call rate off by default, and its options are checked", "[breaker][slow]") {
  auto clock = std::make_shared<FakeClock>();
  CircuitBreaker plain(breaker_options(3, 1s), clock);
  for (int i = 0; i < 10; ++i) {
    auto permit = plain.acquire();
    clock->advance(10s);
    permit.succeeded();
  }
  CHECK(plain.state() == BreakerState::closed);
  CHECK(plain.counters().slow_calls == 0);

  BreakerOptions o = breaker_options(3, 1s);
  o.slow_call_duration = 10ms;
  o.sliding_window = 33;
  CHECK_THROWS_AS(CircuitBreaker(o), ttlcache::argument_error);
  o.sliding_window = 4;
  o.minimum_calls = 5;
  CHECK_THROWS_AS(CircuitBreaker(o), ttlcache::argument_error);
  o.minimum_calls = 2;
  o.slow_call_rate_threshold = 0;
  CHECK_THROWS_AS(CircuitBreaker(o), ttlcache::argument_error);
  o.slow_call_rate_threshold = 101;
  CHECK_THROWS_AS(CircuitBreaker(o), ttlcache::argument_error);
  o.slow_call_rate_threshold = 50;
  o.slow_call_duration = -1ms;
  CHECK_THROWS_AS(CircuitBreaker(o), ttlcache::argument_error);
}

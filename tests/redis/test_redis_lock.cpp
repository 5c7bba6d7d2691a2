// RedisLockService on a real redis-server: ownership, expiry (exclusion across threads and
// processes: in test_redis_concurrency.cpp).
// SPDX-License-Identifier: MIT
// No ';' in test names: catch_discover_tests splits the name there, and the truncated name
// matches no test case, which Catch reports as a pass.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "redis_test_support.hpp"
#include "ttlcache/redis.hpp"

using namespace std::chrono_literals;
using ttlcache::redis::RedisLock;
using ttlcache::redis::RedisLockService;
using ttlcache_test::OwnServer;
using ttlcache_test::RawClient;
using ttlcache_test::shared_server;
using ttlcache_test::unique_namespace;

namespace {

using Clock = std::chrono::steady_clock;

/// Polls pred until it holds or timeout passes; returns whether it held.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

std::string lock_key(const std::string& ns, const std::string& name) {
  return ns + "@lock:" + name;
}

bool is_hex_token(const std::string& token) {
  return token.size() == 32 && std::all_of(token.begin(), token.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

TEST_CASE("lock: acquire stores a fresh random token with the lease and release frees it",
          "[redis][lock]") {
  const std::string ns = unique_namespace("lock");
  RedisLockService locks(ttlcache_test::options_for(shared_server(), ns));
  RawClient raw(shared_server().port);

  auto first = locks.try_acquire("job", 10s);
  REQUIRE(first);
  CHECK(first->held());
  CHECK(first->name() == "job");
  CHECK(is_hex_token(first->token()));
  CHECK(raw.string_reply({"GET", lock_key(ns, "job")}) == first->token());
  const long long pttl = raw.integer_reply({"PTTL", lock_key(ns, "job")});
  CHECK(pttl > 5000);
  CHECK(pttl <= 10000);
  CHECK(first->owns());

  // Held: a second attempt (this service or the LockService interface) gets nothing.
  CHECK_FALSE(locks.try_acquire("job", 10s));
  CHECK(locks.try_lock("job", 10s) == nullptr);
  // Another name is another lock.
  auto other = locks.try_acquire("job2", 10s);
  CHECK(other);

  CHECK(first->release());
  CHECK_FALSE(first->held());
  CHECK(raw.string_reply({"GET", lock_key(ns, "job")}) == "<nil>");
  CHECK_FALSE(first->release());  // nothing held any more

  auto second = locks.try_acquire("job", 10s);
  REQUIRE(second);
  CHECK(second->token() != first->token());

  const auto s = locks.stats();
  CHECK(s.acquired == 3);
  CHECK(s.contended == 2);
  CHECK(s.released == 1);
}

TEST_CASE("lock: RedisLock releases in its destructor and on move assignment", "[redis][lock]") {
  const std::string ns = unique_namespace("lock");
  RedisLockService locks(ttlcache_test::options_for(shared_server(), ns));
  RawClient raw(shared_server().port);
  {
    auto lock = locks.try_acquire("scoped", 10s);
    REQUIRE(lock);
    CHECK(raw.integer_reply({"EXISTS", lock_key(ns, "scoped")}) == 1);
  }
  CHECK(raw.integer_reply({"EXISTS", lock_key(ns, "scoped")}) == 0);

  {
    std::unique_ptr<ttlcache::LockLease> lease = locks.try_lock("via-interface", 10s);
    REQUIRE(lease);
    CHECK(raw.integer_reply({"EXISTS", lock_key(ns, "via-interface")}) == 1);
  }
  CHECK(raw.integer_reply({"EXISTS", lock_key(ns, "via-interface")}) == 0);

  auto a = locks.try_acquire("a", 10s);
  auto b = locks.try_acquire("b", 10s);
  REQUIRE(a);
  REQUIRE(b);
  RedisLock moved(std::move(*a));
  CHECK_FALSE(a->held());  // moved from: holds nothing, releases nothing
  CHECK(moved.held());
  moved = std::move(*b);  // releases "a", takes over "b"
  CHECK(raw.integer_reply({"EXISTS", lock_key(ns, "a")}) == 0);
  CHECK(raw.integer_reply({"EXISTS", lock_key(ns, "b")}) == 1);
  CHECK(moved.name() == "b");
  CHECK(locks.stats().release_errors == 0);
}

TEST_CASE("lock: a non-owner cannot take, release or extend the lock", "[redis][lock]") {
  const std::string ns = unique_namespace("lock");
  RedisLockService locks(ttlcache_test::options_for(shared_server(), ns));
  RawClient raw(shared_server().port);
  const std::string key = lock_key(ns, "res");

  // Another holder (another process, a token we do not know) has the lock.
  raw.command({"SET", key, "0123456789abcdef0123456789abcdef", "PX", "20000"});
  CHECK_FALSE(locks.try_acquire("res", 10s));

  // Our lock was taken over behind our back (as after an expiry): our release and extend must
  // refuse, and leave the new holder's token and TTL alone.
  auto mine = locks.try_acquire("mine", 10s);
  REQUIRE(mine);
  const std::string mine_key = lock_key(ns, "mine");
  raw.command({"SET", mine_key, "fedcba9876543210fedcba9876543210", "PX", "20000"});
  CHECK_FALSE(mine->owns());
  CHECK_FALSE(mine->extend(60s));
  CHECK(raw.integer_reply({"PTTL", mine_key}) <= 20000);
  CHECK_FALSE(mine->held());
  CHECK_FALSE(mine->release());
  CHECK(raw.string_reply({"GET", mine_key}) == "fedcba9876543210fedcba9876543210");

  // The same through release() first, on a fresh acquisition.
  auto again = locks.try_acquire("mine2", 10s);
  REQUIRE(again);
  raw.command({"SET", lock_key(ns, "mine2"), "someone-else", "PX", "20000"});
  CHECK_FALSE(again->release());
  CHECK(raw.string_reply({"GET", lock_key(ns, "mine2")}) == "someone-else");

  const auto s = locks.stats();
  CHECK(s.extend_lost == 1);
  CHECK(s.release_lost == 1);
  CHECK(s.released == 0);
}

TEST_CASE("lock: after the lease lapses another holder gets it and the old one cannot touch it",
          "[redis][lock]") {
  const std::string ns = unique_namespace("lock");
  auto options = ttlcache_test::options_for(shared_server(), ns);
  RedisLockService a(options);
  RedisLockService b(options);  // another instance: its own pool

  auto old_holder = a.try_acquire("lease", 150ms);
  REQUIRE(old_holder);
  // Polled, not slept: on a loaded machine the lapse is observed whenever it happens.
  std::optional<RedisLock> new_holder;
  REQUIRE(eventually([&] {
    new_holder = b.try_acquire("lease", 30s);
    return new_holder.has_value();
  }));
  CHECK(new_holder->token() != old_holder->token());

  CHECK_FALSE(old_holder->owns());
  CHECK_FALSE(old_holder->release());
  CHECK_FALSE(old_holder->extend(30s));
  CHECK(new_holder->owns());
  RawClient raw(shared_server().port);
  CHECK(raw.string_reply({"GET", lock_key(ns, "lease")}) == new_holder->token());
  CHECK(new_holder->release());
}

TEST_CASE("lock: extend keeps others out beyond the original lease", "[redis][lock]") {
  const std::string ns = unique_namespace("lock");
  auto options = ttlcache_test::options_for(shared_server(), ns);
  RedisLockService a(options);
  RedisLockService b(options);
  RawClient raw(shared_server().port);

  const auto start = Clock::now();
  auto lock = a.try_acquire("long-job", 500ms);
  REQUIRE(lock);
  REQUIRE(lock->extend(30s));
  CHECK(raw.integer_reply({"PTTL", lock_key(ns, "long-job")}) > 20000);
  // Well past the original lease: still ours.
  std::this_thread::sleep_until(start + 900ms);
  CHECK_FALSE(b.try_acquire("long-job", 10s));
  CHECK(lock->owns());
  CHECK(lock->extend(30s));
  CHECK(a.stats().extended == 2);
  CHECK_THROWS_AS(lock->extend(0ms), ttlcache::argument_error);
  CHECK(lock->release());
}

TEST_CASE("lock: try_lock_for waits with backoff, gives up at its deadline", "[redis][lock]") {
  const std::string ns = unique_namespace("lock");
  auto options = ttlcache_test::options_for(shared_server(), ns);
  RedisLockService a(options);
  RedisLockService b(options);

  auto held = a.try_acquire("busy", 60s);
  REQUIRE(held);

  const auto t0 = Clock::now();
  auto none = b.try_lock_for("busy", 10s, 200ms);
  const auto waited = Clock::now() - t0;
  CHECK_FALSE(none);
  CHECK(waited >= 200ms);
  CHECK(waited < 30s);  // gave up near its deadline, not at the 60 s lease
  CHECK(b.stats().timed_out == 1);
  CHECK(b.stats().contended >= 2);  // it did retry

  // Timeout 0: exactly one attempt.
  CHECK_FALSE(b.try_lock_for("busy", 10s, 0ms));

  // Released while another waits: the waiter gets it well before its deadline.
  std::thread releaser([&] {
    std::this_thread::sleep_for(100ms);
    held->release();
  });
  auto got = b.try_lock_for("busy", 10s, 60s);
  releaser.join();
  REQUIRE(got);
  CHECK(got->owns());
}

TEST_CASE("lock: names are literal keys, and bad names and leases are refused before sending",
          "[redis][lock]") {
  const std::string ns = unique_namespace("lock");
  auto options = ttlcache_test::options_for(shared_server(), ns);
  options.max_key_length = 64;
  RedisLockService locks(options);
  RawClient raw(shared_server().port);

  // Glob characters mean nothing: "job*" and "job?" are their own locks, not patterns.
  auto star = locks.try_acquire("job*", 10s);
  REQUIRE(star);
  auto plain = locks.try_acquire("jobX", 10s);
  CHECK(plain);
  auto question = locks.try_acquire("job?", 10s);
  CHECK(question);
  CHECK(raw.string_reply({"GET", lock_key(ns, "job*")}) == star->token());
  CHECK(locks.try_acquire("caf\xc3\xa9 / spaces ok", 10s));  // UTF-8 and spaces are fine

  CHECK_THROWS_AS(locks.try_acquire("", 10s), ttlcache::argument_error);
  CHECK_THROWS_AS(locks.try_acquire(std::string(65, 'n'), 10s), ttlcache::limit_error);
  CHECK_THROWS_AS(locks.try_acquire("ok", 0ms), ttlcache::argument_error);
  CHECK_THROWS_AS(locks.try_acquire("ok", -5ms), ttlcache::argument_error);
  CHECK_THROWS_AS(locks.try_lock_for("ok", 0ms, 1s), ttlcache::argument_error);
  try {
    (void)locks.try_acquire(std::string("bad\nname"), 10s);
    FAIL("a name with a newline was accepted");
  } catch (const ttlcache::argument_error& e) {
    const std::string what = e.what();
    CHECK(what.find("\"bad\\x0aname\"") != std::string::npos);  // names the lock, escaped
    CHECK(what.find("control character") != std::string::npos);
  }
  CHECK_THROWS_AS(locks.try_acquire(std::string("nul\0byte", 8), 10s), ttlcache::argument_error);
  CHECK(raw.integer_reply({"EXISTS", lock_key(ns, "ok")}) == 0);
  CHECK(raw.integer_reply({"EXISTS", lock_key(ns, "bad\nname")}) == 0);
}

TEST_CASE("lock: EVALSHA falls back to EVAL after SCRIPT FLUSH, then uses the cached script",
          "[redis][lock]") {
  OwnServer server;  // SCRIPT FLUSH on the shared server would disturb other test processes
  const std::string ns = unique_namespace("lock");
  auto options = ttlcache_test::options_for(shared_server(), ns);
  options.port = server.port();
  RedisLockService locks(options);
  RawClient raw(server.port());

  raw.command({"SCRIPT", "FLUSH"});
  auto one = locks.try_acquire("s", 10s);
  REQUIRE(one);
  CHECK(one->extend(10s));  // NOSCRIPT -> EVAL (loads the extend script)
  CHECK(one->release());    // NOSCRIPT -> EVAL (loads the release script)
  CHECK(locks.stats().script_loads == 2);
  // The built-in SHA-1s match the scripts: no further loads.
  auto two = locks.try_acquire("s", 10s);
  REQUIRE(two);
  CHECK(two->extend(10s));
  CHECK(two->release());
  CHECK(locks.stats().script_loads == 2);
}

TEST_CASE("lock: a killed server gives connection errors naming lock, backend and server",
          "[redis][lock][resilience]") {
  // requirepass survives the restart (the fixture's ACL user gets a new password each start).
  const std::string password = "lock-Secret-4711";
  OwnServer server({"--requirepass", password});
  const std::string ns = unique_namespace("lock");
  auto options = ttlcache_test::options_for(server.info(), ns);
  options.password = password;
  options.reconnect_backoff_max = 200ms;
  RedisLockService locks(options);

  auto held = locks.try_acquire("report", 30s);
  REQUIRE(held);
  server.kill_hard();

  const std::string endpoint = "127.0.0.1:" + std::to_string(server.port());
  for (int attempt = 0; attempt < 2; ++attempt) {  // the pooled connection, then a reconnect
    try {
      (void)locks.try_acquire("report", 30s);
      FAIL("try_acquire on a dead server did not throw");
    } catch (const ttlcache::backend_error& e) {
      const std::string what = e.what();
      INFO(what);
      CHECK((dynamic_cast<const ttlcache::connection_error*>(&e) != nullptr ||
             dynamic_cast<const ttlcache::timeout_error*>(&e) != nullptr));
      CHECK(e.backend() == "redis");
      CHECK(what.find("redis") != std::string::npos);
      CHECK(what.find("lock \"report\"") != std::string::npos);
      CHECK(what.find(endpoint) != std::string::npos);
      CHECK(what.find(options.password) == std::string::npos);
    }
  }
  CHECK_THROWS_AS(held->release(), ttlcache::backend_error);
  CHECK(held->held());  // unknown outcome: still ours as far as we know
  CHECK_THROWS_AS(held->extend(30s), ttlcache::backend_error);

  // The guard's destructor swallows the failure and counts it.
  held.reset();
  CHECK(locks.stats().release_errors == 1);

  // Back by itself once the server is: the restarted server has no lock (no persistence).
  server.restart();
  std::optional<RedisLock> after;
  CHECK(eventually([&] {
    try {
      after = locks.try_acquire("report", 30s);
      return after.has_value();
    } catch (const ttlcache::backend_error&) {
      return false;
    }
  }));
}

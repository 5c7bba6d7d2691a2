// RedisLockService on the shared Redis Cluster: locks on every master, exclusion, ownership.
// SPDX-License-Identifier: MIT
// No ';' in test names: catch_discover_tests splits the name there.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster_lock_support.hpp"
#include "cluster_test_support.hpp"
#include "redis/cluster.hpp"
#include "ttlcache/redis.hpp"

using namespace std::chrono_literals;
using ttlcache::redis::RedisLockService;
using ttlcache_test::ClusterSetup;
using ttlcache_test::lock_key;
using ttlcache_test::names_on_every_master;
using ttlcache_test::RawClient;
using ttlcache_test::unique_namespace;

namespace {

const std::string release_sha = "6fbe84d1140fd2047394924af9d845b83c070bec";
const std::string extend_sha = "e50f848e374a94192aa6f2e444e7eb8acc16501d";

}  // namespace

TEST_CASE("cluster lock: each lock lives on the master of its slot and releases there",
          "[redis][cluster][lock]") {
  const auto& cluster = ClusterSetup::shared();
  const std::string ns = unique_namespace("cluster-lock");
  // One seed only: the service learns the other masters from the slot map.
  RedisLockService locks(cluster.options(ns, 1));
  CHECK(locks.endpoint().find("cluster 127.0.0.1:") == 0);

  for (const auto& [port, names] : names_on_every_master(cluster, ns, 2)) {
    RawClient raw(port);
    for (const auto& name : names) {
      INFO("lock " << name << " on master " << port);
      auto lock = locks.try_acquire(name, 30s);
      REQUIRE(lock);
      CHECK(raw.string_reply({"GET", lock_key(ns, name)}) == lock->token());
      CHECK(raw.integer_reply({"PTTL", lock_key(ns, name)}) > 20000);
      CHECK_FALSE(locks.try_acquire(name, 30s));
      CHECK(lock->owns());
      CHECK(lock->extend(60s));
      CHECK(raw.integer_reply({"PTTL", lock_key(ns, name)}) > 50000);
      CHECK(lock->release());
      CHECK(raw.integer_reply({"EXISTS", lock_key(ns, name)}) == 0);
    }
  }
  const auto s = locks.stats();
  CHECK(s.acquired == 6);
  CHECK(s.contended == 6);
  CHECK(s.extended == 6);
  CHECK(s.released == 6);
}

TEST_CASE("cluster lock: release and extend by a non-owner are refused on every master",
          "[redis][cluster][lock]") {
  const auto& cluster = ClusterSetup::shared();
  const std::string ns = unique_namespace("cluster-lock");
  RedisLockService locks(cluster.options(ns));
  RedisLockService others(cluster.options(ns));

  for (const auto& [port, names] : names_on_every_master(cluster, ns, 1)) {
    RawClient raw(port);
    const std::string& name = names.front();
    const std::string key = lock_key(ns, name);
    INFO("lock " << name << " on master " << port);

    // Held by another service: we can neither take it nor touch it.
    auto theirs = others.try_acquire(name, 20s);
    REQUIRE(theirs);
    CHECK_FALSE(locks.try_acquire(name, 10s));
    CHECK_FALSE(locks.try_lock_for(name, 10s, 50ms));
    REQUIRE(theirs->release());

    // Ours, taken over behind our back (as after an expiry): extend and release refuse and
    // leave the new holder's token and TTL alone.
    auto mine = locks.try_acquire(name, 10s);
    REQUIRE(mine);
    raw.command({"SET", key, "fedcba9876543210fedcba9876543210", "PX", "20000"});
    CHECK_FALSE(mine->owns());
    CHECK_FALSE(mine->extend(60s));
    CHECK(raw.integer_reply({"PTTL", key}) <= 20000);
    CHECK_FALSE(mine->release());
    CHECK(raw.string_reply({"GET", key}) == "fedcba9876543210fedcba9876543210");

    auto again = locks.try_acquire(name + "-2", 10s);
    REQUIRE(again);
    RawClient owner(cluster.master_of_slot(
        ttlcache::redis::detail::hash_slot(lock_key(ns, name + "-2")), port));
    owner.command({"SET", lock_key(ns, name + "-2"), "someone-else", "PX", "20000"});
    CHECK_FALSE(again->release());
    CHECK(owner.string_reply({"GET", lock_key(ns, name + "-2")}) == "someone-else");
    owner.command({"DEL", lock_key(ns, name + "-2")});
    raw.command({"DEL", key});
  }
  const auto s = locks.stats();
  CHECK(s.extend_lost == 3);
  CHECK(s.release_lost == 3);
  CHECK(s.released == 0);
}

TEST_CASE("cluster lock: NOSCRIPT falls back to EVAL on each node's own script cache",
          "[redis][cluster][lock]") {
  const auto& cluster = ClusterSetup::shared();
  const std::string ns = unique_namespace("cluster-lock");
  RedisLockService locks(cluster.options(ns));
  const auto names = names_on_every_master(cluster, ns, 1);
  // Each master forgets the scripts. (Another lock test running meanwhile only falls back to
  // EVAL as well, so this does not disturb it.)
  for (const auto& entry : names) RawClient(entry.first).command({"SCRIPT", "FLUSH"});

  for (const auto& [port, list] : names) {
    INFO("master " << port);
    auto lock = locks.try_acquire(list.front(), 10s);
    REQUIRE(lock);
    CHECK(lock->extend(20s));  // NOSCRIPT on this node -> EVAL here
    CHECK(lock->release());
    RawClient raw(port);
    // Both scripts are now cached on this node, where the lock's key lives.
    auto exists = raw.command({"SCRIPT", "EXISTS", extend_sha, release_sha});
    REQUIRE(exists->elements == 2);
    CHECK(exists->element[0]->integer == 1);
    CHECK(exists->element[1]->integer == 1);
  }
  CHECK(locks.stats().script_loads >= 1);
  CHECK(locks.stats().released == 3);
}

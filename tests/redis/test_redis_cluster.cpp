// RedisStore and PubSubBus on a real Redis Cluster (3 masters + 3 replicas on loopback).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster_test_support.hpp"
#include "conformance/backend_conformance.hpp"
#include "redis/cluster.hpp"
#include "ttlcache/invalidation.hpp"
#include "ttlcache/redis.hpp"
#include "ttlcache/ttlcache.hpp"

using namespace std::chrono_literals;
using ttlcache::redis::RedisOptions;
using ttlcache::redis::RedisStore;
using ttlcache::redis::Topology;
using ttlcache_test::ClusterSetup;
using ttlcache_test::eventually;
using ttlcache_test::RawClient;
using ttlcache_test::unique_namespace;

namespace {

using StringCache = ttlcache::Cache<std::string, std::string>;
using Clock = std::chrono::steady_clock;

std::shared_ptr<RedisStore> cluster_store(const std::string& ns) {
  return std::make_shared<RedisStore>(ClusterSetup::shared().options(ns));
}

// How many of our namespace's keys each master holds (SCAN on every master directly).
std::vector<std::size_t> keys_per_master(const ClusterSetup& cluster, const std::string& ns) {
  std::vector<std::size_t> out;
  for (int port : cluster.masters()) {
    RawClient raw(port);
    std::size_t count = 0;
    std::string cursor = "0";
    do {
      auto reply = raw.command({"SCAN", cursor, "MATCH", ns + ":*", "COUNT", "1000"});
      cursor.assign(reply->element[0]->str, reply->element[0]->len);
      count += reply->element[1]->elements;
    } while (cursor != "0");
    out.push_back(count);
  }
  return out;
}

}  // namespace

TEST_CASE("CRC16 hash slots match the server's CLUSTER KEYSLOT, hash tags included",
          "[redis][cluster]") {
  using ttlcache::redis::detail::crc16;
  using ttlcache::redis::detail::hash_slot;
  CHECK(crc16("123456789") == 0x31C3);  // the XMODEM check value Redis's crc16.c documents
  CHECK(hash_slot("foo") == 12182);
  CHECK(hash_slot("{user1000}.following") == hash_slot("{user1000}.followers"));
  CHECK(hash_slot("foo{}{bar}") == hash_slot("foo{}{bar}"));
  CHECK(hash_slot("foo{}{bar}") != hash_slot("bar"));  // an empty tag: the whole key hashes
  CHECK(hash_slot("foo{{bar}}zap") == hash_slot("{bar"));

  RawClient raw(ClusterSetup::shared().ports().front());
  std::mt19937 random(42);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 300; ++i) {
    std::string key;
    const int length = 1 + i % 24;
    for (int k = 0; k < length; ++k) key += static_cast<char>(byte(random));
    if (i % 3 == 0) key = "ns:{" + key.substr(0, 3) + "}:" + key;
    INFO("key #" << i);
    CHECK(hash_slot(key) == raw.integer_reply({"CLUSTER", "KEYSLOT", key}));
  }
}

TEST_CASE("redis+cluster:// and redis+sentinel:// URLs", "[redis][cluster][options]") {
  auto o = RedisOptions::from_url("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2,[::1]:7002");
  CHECK(o.topology == Topology::cluster);
  REQUIRE(o.nodes.size() == 3);
  CHECK(o.nodes[0].host == "10.0.0.1");
  CHECK(o.nodes[0].port == 7000);
  CHECK(o.nodes[1].port == 6379);
  CHECK(o.nodes[2].host == "::1");
  CHECK(o.password == "pw");
  CHECK(o.describe().find("redis+cluster://:***@10.0.0.1:7000,10.0.0.2:6379,[::1]:7002") == 0);
  CHECK_NOTHROW(o.validate());

  o = RedisOptions::from_url("redis+sentinel://s1,s2:26380/my%20master/2");
  CHECK(o.topology == Topology::sentinel);
  REQUIRE(o.nodes.size() == 2);
  CHECK(o.nodes[0].port == 26379);
  CHECK(o.nodes[1].port == 26380);
  CHECK(o.sentinel_master == "my master");
  CHECK(o.db == 2);

  // Back to a standalone URL: the topology fields are reset.
  o.apply_url("redis://localhost:6380");
  CHECK(o.topology == Topology::standalone);
  CHECK(o.nodes.empty());

  CHECK_THROWS_AS(RedisOptions::from_url("redis+cluster://a:1/3"), ttlcache::config_error);
  CHECK_THROWS_AS(RedisOptions::from_url("redis+cluster://a:1,"), ttlcache::config_error);
  CHECK_THROWS_AS(RedisOptions::from_url("redis+sentinel://a:1"), ttlcache::config_error);
  RedisOptions bad = RedisOptions::from_url("redis+cluster://a:1");
  bad.db = 1;
  CHECK_THROWS_AS(bad.validate(), ttlcache::config_error);
}

TEST_CASE("the Redis backend keeps the Backend contract on a cluster",
          "[redis][cluster][conformance]") {
  ttlcache::testing::ConformanceFixture fixture;
  fixture.make_backend = [] {
    return ttlcache::redis::make_backend<std::string, std::string>(
        ClusterSetup::shared().options(unique_namespace("cluster-conf")));
  };
  fixture.let_time_pass = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  fixture.unit = 250ms;
  ttlcache::testing::run_backend_conformance(fixture);
}

TEST_CASE("cluster batches span every master and answer in the caller's order",
          "[redis][cluster][batch]") {
  const auto& cluster = ClusterSetup::shared();
  const std::string ns = unique_namespace("cluster-batch");
  auto options = cluster.options(ns);
  options.batch_chunk = 64;  // several pipeline chunks per node
  RedisStore store(options);

  std::vector<RedisStore::Write> writes;
  std::vector<std::string> keys;
  for (int i = 0; i < 1000; ++i) {
    keys.push_back("k" + std::to_string(i));
    if (i % 5 != 0) {
      writes.push_back(
          {keys.back(), "v" + std::to_string(i), std::chrono::milliseconds(60000 + i)});
    }
  }
  store.set_many(writes);
  const auto per_master = keys_per_master(cluster, ns);
  REQUIRE(per_master.size() == 3);
  for (std::size_t count : per_master) CHECK(count > 150);  // ~267 each: spread over all three

  keys.emplace_back("k1");  // a repeat, answered again
  const auto got = store.get_many(keys);
  REQUIRE(got.size() == keys.size());
  for (int i = 0; i < 1000; ++i) {
    INFO("key k" << i);
    if (i % 5 == 0) {
      CHECK_FALSE(got[static_cast<std::size_t>(i)]);
    } else {
      CHECK(got[static_cast<std::size_t>(i)] ==
            std::optional<std::string>("v" + std::to_string(i)));
    }
  }
  CHECK(got.back() == std::optional<std::string>("v1"));
  // Each entry kept its own TTL.
  const auto ttl = store.ttl("k999");
  REQUIRE(ttl);
  CHECK(*ttl > 59000ms);
  CHECK(*ttl <= 60999ms);
  CHECK(store.size() == writes.size());
}

TEST_CASE("pattern delete, clear and size reach every master", "[redis][cluster][pattern]") {
  const auto& cluster = ClusterSetup::shared();
  const std::string ns = unique_namespace("cluster-pattern");
  RedisStore store(cluster.options(ns));
  std::vector<RedisStore::Write> writes;
  for (int i = 0; i < 300; ++i) writes.push_back({"user:" + std::to_string(i), "u", 1min});
  for (int i = 0; i < 100; ++i) writes.push_back({"order:" + std::to_string(i), "o", 1min});
  writes.push_back({"user*:literal", "x", 1min});
  store.set_many(writes);
  CHECK(store.size() == 401);

  CHECK(store.erase_prefix("user*") == 1);  // the '*' is literal
  CHECK(store.erase_prefix("user:") == 300);
  CHECK(store.size() == 100);
  for (std::size_t count : keys_per_master(cluster, ns)) CHECK(count > 0);
  store.clear();
  CHECK(store.size() == 0);
  for (std::size_t count : keys_per_master(cluster, ns)) CHECK(count == 0);
}

TEST_CASE("tags and versions on a cluster: two caches, one truth", "[redis][cluster][tags]") {
  const std::string ns = unique_namespace("cluster-tags");
  StringCache a(ttlcache::redis::make_tagged_backend<std::string, std::string>(cluster_store(ns)));
  StringCache b(ttlcache::redis::make_tagged_backend<std::string, std::string>(cluster_store(ns)));

  // Many tags, so the stamps spread over the slots (and the masters).
  std::vector<std::string> tags;
  for (int i = 0; i < 30; ++i) tags.push_back("tag" + std::to_string(i));
  a.set("many", "m", 1h, ttlcache::Tags(tags));
  a.set("file:1", "one", 1h, {"user:42", "files"});
  a.set("file:2", "two", 1h, {"user:7", "files"});
  a.set("list:files", "[1,2]", 1h, ttlcache::Tags{}.entity("file"));
  CHECK(b.get("many") == std::optional<std::string>("m"));
  CHECK(b.get("file:1") == std::optional<std::string>("one"));

  b.invalidate_tag("tag17");
  CHECK_FALSE(a.get("many"));
  b.invalidate_tag("user:42");
  CHECK_FALSE(a.get("file:1"));
  CHECK(a.get("file:2") == std::optional<std::string>("two"));

  const auto v = a.version("file");
  CHECK(b.version("file") == v);
  CHECK(b.bump_version("file") != v);
  CHECK_FALSE(a.get("list:files"));
  b.invalidate_tags({"files"});
  CHECK_FALSE(a.get("file:2"));

  a.set("doc:1", "d1", 1h);
  a.set("doc:2", "d2", 1h);
  a.set("img:1", "i1", 1h);
  b.invalidate_matching("doc:");
  CHECK_FALSE(a.get("doc:1"));
  CHECK_FALSE(a.get("doc:2"));
  CHECK(a.get("img:1") == std::optional<std::string>("i1"));
}

TEST_CASE("MOVED and ASK during a slot migration are followed", "[redis][cluster][redirect]") {
  const auto& cluster = ClusterSetup::shared();
  using ttlcache::redis::detail::hash_slot;
  const std::string ns = unique_namespace("cluster-move");
  RedisStore store(cluster.options(ns));

  // Two keys in one slot: one written before the migration starts, one during it. The slot
  // must hold no key of an earlier test: a node refuses to give away a slot it still has keys
  // in, and those keys would not be migrated.
  std::string old_key;
  std::uint16_t slot = 0;
  int source = 0;
  for (int i = 0; old_key.empty() && i < 1000; ++i) {
    const std::string candidate = "old" + std::to_string(i);
    const auto s = hash_slot(ns + ":" + candidate);
    const int owner = cluster.master_of_slot(s, cluster.ports().front());
    if (RawClient(owner).integer_reply({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(s)}) == 0) {
      old_key = candidate;
      slot = s;
      source = owner;
    }
  }
  REQUIRE_FALSE(old_key.empty());
  std::string new_key;
  for (int i = 0; new_key.empty(); ++i) {
    if (hash_slot(ns + ":n" + std::to_string(i)) == slot) new_key = "n" + std::to_string(i);
  }
  store.set(old_key, "before", 1min);

  int target = 0;
  for (int port : cluster.masters()) {
    if (port != source) target = port;
  }
  REQUIRE(target != 0);
  RawClient src(source);
  RawClient dst(target);
  const std::string source_id = src.string_reply({"CLUSTER", "MYID"});
  const std::string target_id = dst.string_reply({"CLUSTER", "MYID"});
  const std::string slot_text = std::to_string(slot);
  REQUIRE(dst.string_reply({"CLUSTER", "SETSLOT", slot_text, "IMPORTING", source_id}) == "OK");
  REQUIRE(src.string_reply({"CLUSTER", "SETSLOT", slot_text, "MIGRATING", target_id}) == "OK");

  // A key the source no longer has is answered with ASK: the store asks the target, and
  // keeps asking the source first (ASK is one-shot; the slot map does not change).
  auto redirections = store.stats().redirections;
  store.set(new_key, "during", 1min);
  CHECK(store.get(new_key) == std::optional<std::string>("during"));
  CHECK(store.stats().redirections == redirections + 2);
  CHECK(store.get(old_key) == std::optional<std::string>("before"));         // still on the source
  CHECK(dst.integer_reply({"CLUSTER", "COUNTKEYSINSLOT", slot_text}) == 1);  // the new key

  // Finish the move: MIGRATE the old key, hand the slot to the target on every master.
  auto migrated = src.command({"MIGRATE", "127.0.0.1", std::to_string(target), "", "0", "5000",
                               "KEYS", ns + ":" + old_key});
  REQUIRE(migrated->type == REDIS_REPLY_STATUS);
  for (int port : cluster.masters()) {
    RawClient raw(port);
    REQUIRE(raw.string_reply({"CLUSTER", "SETSLOT", slot_text, "NODE", target_id}) == "OK");
  }
  // One MOVED, followed; after it the slot map sends both keys straight to the target.
  redirections = store.stats().redirections;
  CHECK(store.get(old_key) == std::optional<std::string>("before"));
  CHECK(store.stats().redirections == redirections + 1);
  CHECK(store.get(new_key) == std::optional<std::string>("during"));
  CHECK(store.get_many({old_key, new_key})[1] == std::optional<std::string>("during"));
  CHECK(store.stats().redirections == redirections + 1);
  CHECK(cluster.master_of_slot(slot, target) == target);

  // Put the slot back where it was, so the shared cluster stays as the other tests found it.
  REQUIRE(src.string_reply({"CLUSTER", "SETSLOT", slot_text, "IMPORTING", target_id}) == "OK");
  REQUIRE(dst.string_reply({"CLUSTER", "SETSLOT", slot_text, "MIGRATING", source_id}) == "OK");
  auto back = dst.command({"MIGRATE", "127.0.0.1", std::to_string(source), "", "0", "5000", "KEYS",
                           ns + ":" + old_key, ns + ":" + new_key});
  REQUIRE(back->type == REDIS_REPLY_STATUS);
  for (int port : cluster.masters()) {
    RawClient raw(port);
    REQUIRE(raw.string_reply({"CLUSTER", "SETSLOT", slot_text, "NODE", source_id}) == "OK");
  }
  CHECK(store.get(old_key) == std::optional<std::string>("before"));
  store.clear();
}

TEST_CASE(
    "the pub/sub bus on a cluster: a message published on one node reaches a subscriber "
    "on another",
    "[redis][cluster][bus]") {
  const auto& cluster = ClusterSetup::shared();
  const auto masters = cluster.masters();
  REQUIRE(masters.size() == 3);
  const std::string channel = unique_namespace("cluster-chan");
  auto make_bus = [&](int port) {
    ttlcache::redis::PubSubOptions options;
    options.redis = RedisOptions::from_url("redis+cluster://127.0.0.1:" + std::to_string(port));
    options.channel = channel;
    auto bus = std::make_shared<ttlcache::redis::PubSubBus>(options);
    REQUIRE(bus->wait_until_subscribed(10s));
    return bus;
  };
  auto subscriber = make_bus(masters[0]);  // subscribes on its seed, the first master
  auto publisher = make_bus(masters[1]);   // publishes on its seed, another master
  std::atomic<int> got{0};
  std::string subject;
  std::mutex mutex;
  subscriber->subscribe(
      [&](const ttlcache::InvalidationMessage& m) {
        std::lock_guard<std::mutex> lock(mutex);
        subject = m.subject;
        got.fetch_add(1);
      },
      [] {});
  ttlcache::InvalidationMessage message;
  message.kind = ttlcache::InvalidationMessage::Kind::key;
  message.scope = "s";
  message.subject = "user:1";
  publisher->publish(message);
  CHECK(eventually([&] { return got.load() == 1; }));
  std::lock_guard<std::mutex> lock(mutex);
  CHECK(subject == "user:1");
  CHECK(publisher->stats().published == 1);
}

TEST_CASE("cluster failover: a master dies, its replica takes over, calls recover by themselves",
          "[redis][cluster][failover]") {
  auto cluster = ClusterSetup::own(1000);
  const std::string ns = unique_namespace("cluster-failover");
  auto options = cluster.options(ns);
  options.connect_timeout = 500ms;
  options.command_timeout = 500ms;
  options.reconnect_backoff_max = 200ms;
  RedisStore store(options);

  // A bus subscribed on the master that will die, and one publishing elsewhere.
  const std::string key = "victim";
  const int victim = cluster.master_of_slot(ttlcache::redis::detail::hash_slot(ns + ":" + key),
                                            cluster.ports().front());
  int other = 0;
  for (int port : cluster.masters()) {
    if (port != victim) other = port;
  }
  auto make_bus = [&](int port) {
    ttlcache::redis::PubSubOptions bus_options;
    bus_options.redis = RedisOptions::from_url("redis+cluster://127.0.0.1:" + std::to_string(port) +
                                               ",127.0.0.1:" + std::to_string(other));
    bus_options.redis.connect_timeout = 500ms;
    bus_options.redis.reconnect_backoff_max = 200ms;
    bus_options.channel = ns;
    bus_options.heartbeat_interval = 250ms;
    auto bus = std::make_shared<ttlcache::redis::PubSubBus>(bus_options);
    REQUIRE(bus->wait_until_subscribed(10s));
    return bus;
  };
  auto subscriber = make_bus(victim);
  auto publisher = make_bus(other);
  std::atomic<int> received{0};
  subscriber->subscribe([&](const ttlcache::InvalidationMessage&) { received.fetch_add(1); },
                        [] {});

  for (int i = 0; i < 100; ++i) store.set("k" + std::to_string(i), "v", 1min);
  store.set(key, "before", 1min);

  // Returns once the victim is really dead (its port refuses connections): before that a call
  // could still reach it and "recover" without any failover.
  ttlcache_test::kill_process(cluster.pid_of(victim), victim);
  const auto killed = Clock::now();
  int errors = 0;
  std::set<std::string> kinds;
  std::string first_error;
  bool recovered = false;
  while (Clock::now() - killed < 30s) {
    try {
      store.set(key, "after", 1min);
      if (store.get(key) == std::optional<std::string>("after")) {
        recovered = true;
        break;
      }
    } catch (const ttlcache::backend_error& e) {
      ++errors;
      if (first_error.empty()) first_error = e.what();
      kinds.insert(ttlcache_test::error_kind(e));
    }
    std::this_thread::sleep_for(20ms);
  }
  const auto recovery =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed);
  const std::string kind_list = ttlcache_test::join(kinds);
  std::printf(
      "cluster failover (cluster-node-timeout 1000 ms): recovered=%d after %lld ms; %d calls "
      "failed (%s) while the replica took over; first error: %s\n",
      recovered ? 1 : 0, static_cast<long long>(recovery.count()), errors, kind_list.c_str(),
      first_error.c_str());
  REQUIRE(recovered);
  CHECK(errors > 0);                                  // the outage was seen, not hidden
  CHECK(first_error.find(key) != std::string::npos);  // errors name the key...
  CHECK(first_error.find(std::to_string(victim)) != std::string::npos);  // ...and the node

  // The whole keyspace answers again, and the promoted replica serves the victim's slots. The
  // other masters may still answer CLUSTERDOWN for a moment after the promoted replica serves
  // (each node leaves the "fail" state on its own, after a rejoin delay): wait for that, bounded.
  std::string still_failing;
  const auto keyspace_back = [&] {
    for (int i = 0; i < 100; ++i) {
      try {
        (void)store.get("k" + std::to_string(i));
      } catch (const ttlcache::backend_error& e) {
        still_failing = e.what();
        return false;
      }
    }
    return true;
  };
  bool all_back = false;
  const auto keyspace_wait = Clock::now();
  while (!(all_back = keyspace_back()) && Clock::now() - keyspace_wait < 30s) {
    std::this_thread::sleep_for(50ms);
  }
  INFO("a key still failing 30 s after the failover: " << still_failing);
  CHECK(all_back);
  CHECK(cluster.master_of_slot(ttlcache::redis::detail::hash_slot(ns + ":" + key), other) !=
        victim);
  CHECK(store.size() >= 1);

  // The bus left the dead node for a live one: a new message still arrives.
  ttlcache::InvalidationMessage message;
  message.kind = ttlcache::InvalidationMessage::Kind::clear;
  message.scope = ns;
  const int before = received.load();
  CHECK(eventually(
      [&] {
        publisher->publish(message);
        return received.load() > before;
      },
      15s));
  std::printf("cluster failover: bus resubscribed %llu times, received=%d\n",
              static_cast<unsigned long long>(subscriber->stats().subscriptions), received.load());
}

// RedisStore and PubSubBus through Redis Sentinel: 1 master, 1 replica, 3 Sentinels on loopback.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "cluster_test_support.hpp"
#include "ttlcache/redis.hpp"

using namespace std::chrono_literals;
using ttlcache::redis::RedisOptions;
using ttlcache::redis::RedisStore;
using ttlcache_test::eventually;
using ttlcache_test::RawClient;
using ttlcache_test::unique_namespace;

namespace {

using Clock = std::chrono::steady_clock;

// A Sentinel setup of the test's own, stopped when the test ends.
class SentinelSetup {
 public:
  SentinelSetup() {
    char pattern[] = "/tmp/ttlcache-own-sentinel.XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    ttlcache_test::run_script("bash '" TTLCACHE_SENTINEL_FIXTURE "' start '" + dir_ +
                              "' >/dev/null");
    fields_ = ttlcache_test::read_fields(dir_ + "/sentinel.info");
  }
  ~SentinelSetup() {
    try {
      ttlcache_test::run_script("bash '" TTLCACHE_SENTINEL_FIXTURE "' stop '" + dir_ +
                                "' >/dev/null");
      ttlcache_test::run_script("rm -rf '" + dir_ + "'");
    } catch (...) {
    }
  }
  SentinelSetup(const SentinelSetup&) = delete;
  SentinelSetup& operator=(const SentinelSetup&) = delete;

  int field(const std::string& name) const { return std::stoi(fields_.at(name)); }
  std::string url() const {
    std::string url = "redis+sentinel://";
    bool first = true;
    for (int port : ttlcache_test::numbers(fields_.at("sentinel_ports"))) {
      if (!first) url += ',';
      first = false;
      url += "127.0.0.1:" + std::to_string(port);
    }
    return url + "/mymaster";
  }

 private:
  std::string dir_;
  std::map<std::string, std::string> fields_;
};

}  // namespace

TEST_CASE("Sentinel: the store finds the master, and follows it through a failover",
          "[redis][sentinel][failover]") {
  SentinelSetup setup;
  const int master = setup.field("master_port");
  const int replica = setup.field("replica_port");
  const std::string ns = unique_namespace("sentinel");
  auto options = RedisOptions::from_url(setup.url());
  options.key_namespace = ns;
  options.connect_timeout = 500ms;
  options.command_timeout = 500ms;
  options.reconnect_backoff_max = 200ms;
  RedisStore store(options);

  // A bus through the same Sentinels, and a second one to publish.
  ttlcache::redis::PubSubOptions bus_options;
  bus_options.redis = options;
  bus_options.channel = ns;
  bus_options.heartbeat_interval = 250ms;
  ttlcache::redis::PubSubBus subscriber(bus_options);
  ttlcache::redis::PubSubBus publisher(bus_options);
  REQUIRE(subscriber.wait_until_subscribed(10s));
  std::atomic<int> received{0};
  subscriber.subscribe([&](const ttlcache::InvalidationMessage&) { received.fetch_add(1); }, [] {});

  store.set("k", "before", 1min);
  CHECK(store.get("k") == std::optional<std::string>("before"));
  {
    RawClient raw(master);  // the Sentinels' master got the write
    CHECK(raw.integer_reply({"EXISTS", ns + ":k"}) == 1);
  }
  CHECK(store.get_many({"k", "missing"})[0] == std::optional<std::string>("before"));

  ttlcache_test::kill_process(setup.field("master_pid"));
  const auto killed = Clock::now();
  int errors = 0;
  std::set<std::string> kinds;
  std::string first_error;
  bool recovered = false;
  while (Clock::now() - killed < 30s) {
    try {
      store.set("k", "after", 1min);
      if (store.get("k") == std::optional<std::string>("after")) {
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
      "sentinel failover (down-after-milliseconds 500): recovered=%d after %lld ms; %d calls "
      "failed (%s); first error: %s\n",
      recovered ? 1 : 0, static_cast<long long>(recovery.count()), errors, kind_list.c_str(),
      first_error.c_str());
  REQUIRE(recovered);
  CHECK(errors > 0);
  CHECK(first_error.find(std::to_string(master)) != std::string::npos);  // names the dead node

  // The write went to the promoted replica, which the Sentinels now name.
  {
    RawClient raw(replica);
    CHECK(raw.string_reply({"GET", ns + ":k"}).find("after") != std::string::npos);
    auto role = raw.command({"ROLE"});
    CHECK(std::string(role->element[0]->str, role->element[0]->len) == "master");
  }
  CHECK(store.get_many({"k"})[0] == std::optional<std::string>("after"));
  store.clear();
  CHECK(store.size() == 0);

  // The bus followed the master too.
  ttlcache::InvalidationMessage message;
  message.kind = ttlcache::InvalidationMessage::Kind::clear;
  message.scope = ns;
  const int before = received.load();
  CHECK(eventually(
      [&] {
        publisher.publish(message);
        return received.load() > before;
      },
      15s));
}

TEST_CASE("Sentinel: unknown master names and unreachable Sentinels are clear errors",
          "[redis][sentinel]") {
  SentinelSetup setup;
  auto options = RedisOptions::from_url(setup.url());
  options.sentinel_master = "nosuchmaster";
  try {
    RedisStore store(options);
    FAIL("expected connection_error");
  } catch (const ttlcache::connection_error& e) {
    CHECK(std::string(e.what()).find("does not know a master named nosuchmaster") !=
          std::string::npos);
  }
  options = RedisOptions::from_url("redis+sentinel://127.0.0.1:1/mymaster");
  options.connect_timeout = 200ms;
  CHECK_THROWS_AS(RedisStore(options), ttlcache::connection_error);
}

TEST_CASE("Sentinel: locks follow the master through a failover",
          "[redis][sentinel][lock][failover]") {
  SentinelSetup setup;
  const int master = setup.field("master_port");
  const int replica = setup.field("replica_port");
  const std::string ns = unique_namespace("sentinel-lock");
  auto options = RedisOptions::from_url(setup.url());
  options.key_namespace = ns;
  options.connect_timeout = 500ms;
  options.command_timeout = 500ms;
  options.reconnect_backoff_max = 200ms;
  ttlcache::redis::RedisLockService locks(options);
  const std::string key = ns + "@lock:job";

  auto job = locks.try_acquire("job", 60s);
  REQUIRE(job);
  CHECK(RawClient(master).string_reply({"GET", key}) == job->token());
  // Wait until the replica has the lock: a lock the old master had not replicated would be
  // lost in the failover (the documented caveat), which is not what this test is about.
  REQUIRE(eventually([&] { return RawClient(replica).integer_reply({"EXISTS", key}) == 1; }));

  ttlcache_test::kill_process(setup.field("master_pid"));
  const auto killed = Clock::now();
  int errors = 0;
  std::string first_error;
  std::optional<ttlcache::redis::RedisLock> probe;
  while (!probe && Clock::now() - killed < 30s) {
    try {
      probe = locks.try_acquire("probe", 60s);
      if (!probe) FAIL("nobody else holds probe");
    } catch (const ttlcache::backend_error& e) {
      ++errors;
      if (first_error.empty()) first_error = e.what();
      std::this_thread::sleep_for(20ms);
    }
  }
  const auto recovery =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed);
  std::printf("sentinel lock failover: recovered=%d after %lld ms; %d calls failed; first: %s\n",
              probe ? 1 : 0, static_cast<long long>(recovery.count()), errors, first_error.c_str());
  REQUIRE(probe);
  CHECK(errors > 0);
  CHECK(first_error.find("lock \"probe\"") != std::string::npos);

  // The promoted replica holds the replicated lock: still ours, still exclusive, and extend
  // and release run their scripts there (EVAL after NOSCRIPT if its cache lacks them).
  CHECK(RawClient(replica).string_reply({"GET", ns + "@lock:probe"}) == probe->token());
  CHECK_FALSE(locks.try_acquire("job", 60s));
  CHECK(job->owns());
  CHECK(job->extend(30s));
  CHECK(job->release());
  CHECK(RawClient(replica).integer_reply({"EXISTS", key}) == 0);
  CHECK(locks.try_acquire("job", 60s));
  CHECK(probe->release());
}

// PubSubBus under loss and misconfiguration: sequence gaps reset the scope; AUTH and SUBSCRIBE
// failures are reported.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "redis_test_support.hpp"
#include "ttlcache/redis/pubsub_bus.hpp"

using namespace std::chrono_literals;
using ttlcache::InvalidationMessage;
using ttlcache_test::options_for;
using ttlcache_test::OwnServer;
using ttlcache_test::RawClient;
using ttlcache_test::shared_server;
using ttlcache_test::unique_namespace;

namespace {

template <class Ready>
bool eventually(Ready&& ready, std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (ready()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return ready();
}

std::string numbered(const std::string& origin, std::uint64_t sequence, const std::string& scope,
                     const std::string& key) {
  InvalidationMessage m;
  m.kind = InvalidationMessage::Kind::key;
  m.scope = scope;
  m.subject = key;
  m.sequence = sequence;
  return ttlcache::redis::encode_message(origin, m);
}

}  // namespace

TEST_CASE("bus wire format: the sequence number travels, the older format still reads",
          "[redis][bus]") {
  InvalidationMessage m;
  m.kind = InvalidationMessage::Kind::stamp;
  m.scope = "files";
  m.subject = "t:user|42";
  m.version = 77;
  m.sequence = 12345;
  std::string origin;
  InvalidationMessage back;
  REQUIRE(ttlcache::redis::decode_message(ttlcache::redis::encode_message("abc", m), origin, back));
  CHECK(origin == "abc");
  CHECK(back.sequence == 12345);
  CHECK(back.version == 77);
  CHECK(back.scope == "files");
  CHECK(back.subject == "t:user|42");
  REQUIRE(ttlcache::redis::decode_message("ttlc1|abc|k|0|5|fileskey", origin, back));
  CHECK(back.sequence == 0);
  CHECK(back.subject == "key");
  CHECK_FALSE(ttlcache::redis::decode_message("ttlc2|abc|x|k|0|5|fileskey", origin, back));
  CHECK_FALSE(ttlcache::redis::decode_message("ttlc2|abc|1|k|0|9|files", origin, back));
}

TEST_CASE("bus: a gap in a publisher's sequence clears that scope and is counted", "[redis][bus]") {
  const auto& server = shared_server();
  ttlcache::redis::PubSubOptions options;
  options.redis = options_for(server, unique_namespace("gap"));
  options.channel = unique_namespace("gap-chan");
  options.gap_grace = 100ms;
  ttlcache::redis::PubSubBus bus(options);
  std::mutex mutex;
  std::vector<InvalidationMessage> seen;
  bus.subscribe(
      [&](const InvalidationMessage& m) {
        std::lock_guard<std::mutex> lock(mutex);
        seen.push_back(m);
      },
      [] {});
  REQUIRE(bus.wait_until_subscribed(10s));
  const auto count = [&](InvalidationMessage::Kind kind, const std::string& scope) {
    std::lock_guard<std::mutex> lock(mutex);
    int n = 0;
    for (const auto& m : seen) n += (m.kind == kind && m.scope == scope) ? 1 : 0;
    return n;
  };
  RawClient raw(server.port);
  const auto publish = [&](const std::string& payload) {
    raw.integer_reply({"PUBLISH", options.channel, payload});
  };
  // In order, and slightly out of order (4 before 3): no gap.
  publish(numbered("aaaa", 1, "s1", "k1"));
  publish(numbered("aaaa", 2, "s1", "k2"));
  publish(numbered("aaaa", 4, "s1", "k4"));
  publish(numbered("aaaa", 3, "s1", "k3"));
  // Another scope of the same publisher counts on its own.
  publish(numbered("aaaa", 1, "s2", "x"));
  REQUIRE(eventually([&] { return count(InvalidationMessage::Kind::key, "s2") == 1; }));
  std::this_thread::sleep_for(300ms);  // past the grace: nothing was missing
  CHECK(bus.stats().gaps == 0);
  CHECK(count(InvalidationMessage::Kind::clear, "s1") == 0);
  // 5 and 6 are lost: after the grace, scope s1 (only) is cleared.
  publish(numbered("aaaa", 7, "s1", "k7"));
  REQUIRE(eventually([&] { return count(InvalidationMessage::Kind::clear, "s1") == 1; }));
  CHECK(bus.stats().gaps == 1);
  CHECK(count(InvalidationMessage::Kind::clear, "s2") == 0);
}

TEST_CASE("bus: a wrong password is reported through the listener and the statistics",
          "[redis][bus]") {
  OwnServer server({"--requirepass", "right-password"});
  ttlcache::redis::PubSubOptions options;
  options.redis = options_for(server.info(), unique_namespace("auth"));
  options.redis.password = "wrong-password";
  options.redis.reconnect_backoff_initial = 20ms;
  options.redis.reconnect_backoff_max = 100ms;
  options.channel = unique_namespace("auth-chan");
  std::mutex mutex;
  std::vector<std::string> reasons;
  options.on_failure = [&](std::string_view reason) {
    std::lock_guard<std::mutex> lock(mutex);
    reasons.emplace_back(reason);
  };
  ttlcache::redis::PubSubBus bus(options);
  REQUIRE(eventually([&] { return bus.stats().auth_failures >= 1; }));
  CHECK_FALSE(bus.healthy());
  const auto stats = bus.stats();
  CHECK(stats.subscriptions == 0);
  CHECK(stats.last_failure.find("AUTH was refused") != std::string::npos);
  CHECK(stats.last_failure.find("wrong-password") == std::string::npos);
  std::lock_guard<std::mutex> lock(mutex);
  REQUIRE_FALSE(reasons.empty());
  CHECK(reasons.front().find("AUTH was refused") != std::string::npos);
}

TEST_CASE("bus: a SUBSCRIBE the server refuses (ACL) is reported", "[redis][bus]") {
  OwnServer server;
  RawClient admin(server.port());
  // A user that may run commands but read no channel.
  admin.command({"ACL", "SETUSER", "nochan", "on", ">pw", "~*", "resetchannels", "+@all"});
  ttlcache::redis::PubSubOptions options;
  options.redis = options_for(server.info(), unique_namespace("acl"));
  options.redis.user = "nochan";
  options.redis.password = "pw";
  options.redis.reconnect_backoff_initial = 20ms;
  options.redis.reconnect_backoff_max = 100ms;
  options.channel = unique_namespace("acl-chan");
  std::atomic<int> reported{0};
  options.on_failure = [&](std::string_view) { reported.fetch_add(1); };
  ttlcache::redis::PubSubBus bus(options);
  REQUIRE(eventually([&] { return bus.stats().subscribe_failures >= 1; }));
  CHECK_FALSE(bus.healthy());
  CHECK(bus.stats().last_failure.find("SUBSCRIBE") != std::string::npos);
  CHECK(reported.load() >= 1);
}

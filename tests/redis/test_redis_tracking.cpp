// The near cache kept coherent by CLIENT TRACKING, and the plain value format, against redis-cli.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "redis_test_support.hpp"
#include "tracking_test_support.hpp"
#include "ttlcache/redis/tracking.hpp"

using namespace std::chrono_literals;
using namespace ttlcache_test;
using ttlcache::redis::RedisOptions;
using ttlcache::redis::RedisStore;
using ttlcache::redis::TrackingMode;
using ttlcache::redis::TrackingOptions;
using ttlcache::redis::ValueFormat;

namespace {

// redis-cli as a separate process; returns its standard output without the final newline.
std::string redis_cli(int port, const std::string& args) {
  const std::string command = "redis-cli -p " + std::to_string(port) + " " + args + " 2>&1";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run: " + command);
  std::string out;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  if (status != 0) throw std::runtime_error("failed (" + std::to_string(status) + "): " + command);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

const char* mode_name(TrackingMode mode) {
  return mode == TrackingMode::broadcast ? "broadcast" : "keys_read";
}

}  // namespace

TEST_CASE("tracking: key names map to key and stamp messages of the namespace only",
          "[redis][tracking]") {
  auto key = ttlcache::redis::tracking_message_for("app:user:42", "app");
  REQUIRE(key.has_value());
  CHECK(key->kind == ttlcache::InvalidationMessage::Kind::key);
  CHECK(key->scope == "app");
  CHECK(key->subject == "user:42");
  auto stamp = ttlcache::redis::tracking_message_for("app@stamp:tag:users", "app");
  REQUIRE(stamp.has_value());
  CHECK(stamp->kind == ttlcache::InvalidationMessage::Kind::stamp);
  CHECK(stamp->subject == "tag:users");
  CHECK_FALSE(ttlcache::redis::tracking_message_for("appx:user:42", "app").has_value());
  CHECK_FALSE(ttlcache::redis::tracking_message_for("other:app:1", "app").has_value());
  CHECK_FALSE(ttlcache::redis::tracking_message_for("ap", "app").has_value());
}

TEST_CASE("near cache: a SET by redis-cli evicts the near copy and the next read sees it",
          "[redis][tracking]") {
  OwnServer server;
  for (TrackingMode mode : {TrackingMode::broadcast, TrackingMode::keys_read}) {
    INFO(mode_name(mode));
    const std::string ns = unique_namespace("near");
    Near n(server.port(), ns, mode);
    REQUIRE(redis_cli(server.port(), "SET " + ns + ":k old PX 600000") == "OK");
    if (mode == TrackingMode::broadcast) {  // every write is reported, this one too
      REQUIRE(wait_until([&] { return n.stats().invalidations == 1; }));
    }
    CHECK(n.fill("k") == "old");
    CHECK(n.tiered().get("k") == "old");
    CHECK(n.tiered().stats().l1_hits == 1);

    auto before = n.stats().invalidations;
    const auto launched = std::chrono::steady_clock::now();
    REQUIRE(redis_cli(server.port(), "SET " + ns + ":k new PX 600000") == "OK");
    const auto cli_done = std::chrono::steady_clock::now();
    REQUIRE(wait_until([&] { return n.stats().invalidations > before; }));
    const auto seen = std::chrono::steady_clock::now();
    CHECK_FALSE(n.tiered().l1().get("k").has_value());
    CHECK(n.tiered().get("k") == "new");

    // The same with a foreign client already connected: the delay without process start-up.
    CHECK(n.tiered().l1().get("k") == "new");
    before = n.stats().invalidations;
    RawClient other(server.port());
    const auto sent = std::chrono::steady_clock::now();
    other.command({"SET", ns + ":k", "newer", "PX", "600000"});
    REQUIRE(wait_until([&] { return n.stats().invalidations > before; }));
    const auto seen_raw = std::chrono::steady_clock::now();
    CHECK(n.tiered().get("k") == "newer");
    const auto us = [](auto d) {
      return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    };
    WARN(mode_name(mode) << ": redis-cli SET: near copy dropped " << us(seen - launched)
                         << " us after launching redis-cli (which took " << us(cli_done - launched)
                         << " us to exit); connected client SET: dropped " << us(seen_raw - sent)
                         << " us after sending");
  }
}

TEST_CASE("near cache: CLIENT KILL of the tracking connection empties it, tracking resumes",
          "[redis][tracking]") {
  OwnServer server;
  RawClient raw(server.port());
  for (TrackingMode mode : {TrackingMode::broadcast, TrackingMode::keys_read}) {
    INFO(mode_name(mode));
    const std::string ns = unique_namespace("kill");
    Near n(server.port(), ns, mode);
    n.tiered().set("a", "1", 10min);
    n.tiered().set("b", "2", 10min);
    // Own writes are reported too (by broadcast; keys_read: not read yet, so not tracked).
    if (mode == TrackingMode::broadcast) {
      REQUIRE(wait_until([&] { return n.stats().invalidations == 2; }));
    }
    n.fill("a");
    n.fill("b");
    const auto first = n.stats();
    REQUIRE(first.resets == 1);
    REQUIRE(first.client_id != 0);
    // The tiered backend subscribes after the bus starts connecting, so whether it saw the
    // first connection's reset depends on timing; the kill must add exactly one.
    const auto tiered_resets = n.tiered().stats().resets;
    REQUIRE(tiered_resets <= 1);

    CHECK(raw.integer_reply({"CLIENT", "KILL", "ID", std::to_string(first.client_id)}) == 1);
    REQUIRE(wait_until([&] {
      const auto s = n.stats();
      return s.resets == 2 && s.connected;
    }));
    CHECK(n.stats().client_id != first.client_id);
    CHECK(n.tiered().stats().resets == tiered_resets + 1);
    CHECK_FALSE(n.tiered().l1().get("a").has_value());
    CHECK_FALSE(n.tiered().l1().get("b").has_value());

    // The new connection tracks again (keys_read: the data connections redirect to its new id).
    CHECK(n.fill("a") == "1");
    const auto before = n.stats().invalidations;
    REQUIRE(redis_cli(server.port(), "SET " + ns + ":a 3 PX 600000") == "OK");
    REQUIRE(wait_until([&] { return n.stats().invalidations > before; }));
    CHECK(n.tiered().get("a") == "3");
  }
}

TEST_CASE("near cache: FLUSHDB empties it and is counted", "[redis][tracking]") {
  OwnServer server;
  const std::string ns = unique_namespace("flush");
  Near n(server.port(), ns, TrackingMode::keys_read);
  n.tiered().set("a", "1", 10min);
  n.tiered().set("b", "2", 10min);
  n.fill("a");
  n.fill("b");
  REQUIRE(n.stats().flushes == 0);
  REQUIRE(redis_cli(server.port(), "FLUSHDB") == "OK");
  // Redis sends the flush report once per tracking connection (keys_read: the subscriber and
  // every pooled connection it redirects), so the count may pass 1 at once.
  REQUIRE(wait_until([&] { return n.stats().flushes >= 1; }));
  CHECK_FALSE(n.tiered().l1().get("a").has_value());
  CHECK_FALSE(n.tiered().l1().get("b").has_value());
  CHECK(n.tiered().stats().invalidations_received >= 1);
  CHECK_FALSE(n.tiered().get("a").has_value());  // gone from Redis too
}

TEST_CASE("near cache: broadcast mode reports the namespace only", "[redis][tracking]") {
  OwnServer server;
  const std::string ns = unique_namespace("bcast");
  Near n(server.port(), ns, TrackingMode::broadcast);
  // Writes outside the namespace (one whose name merely starts like it, one unrelated), then
  // one inside: Redis reports in order, so once the last is seen the others would have been.
  REQUIRE(redis_cli(server.port(), "SET " + ns + "x:k 1") == "OK");
  REQUIRE(redis_cli(server.port(), "SET other:" + ns + ":k 1") == "OK");
  REQUIRE(redis_cli(server.port(), "SET " + ns + ":k 1") == "OK");
  REQUIRE(wait_until([&] { return n.stats().invalidations >= 1; }));
  CHECK(n.stats().invalidations == 1);
  CHECK(n.stats().foreign == 0);
}

TEST_CASE("near cache: only standalone stores, and a store is required", "[redis][tracking]") {
  RedisOptions options = options_for(shared_server(), unique_namespace("topo"));
  options.topology = ttlcache::redis::Topology::sentinel;
  options.nodes = {{"127.0.0.1", 1}};
  options.sentinel_master = "m";
  options.connect_on_start = false;
  auto store = std::make_shared<RedisStore>(options);
  CHECK_THROWS_AS(ttlcache::redis::TrackingBus(store, {}), ttlcache::config_error);
  CHECK_THROWS_AS(ttlcache::redis::TrackingBus(nullptr, {}), ttlcache::argument_error);
}

TEST_CASE("plain value format: redis-cli reads ttlcache's values and the other way round",
          "[redis][format][interop]") {
  const auto& server = shared_server();
  const std::string ns = unique_namespace("interop");
  RedisOptions options = options_for(server, ns);
  options.value_format = ValueFormat::plain;
  auto store = std::make_shared<RedisStore>(options);
  ttlcache::CodecBackend<std::string, std::map<std::string, int>> maps(store);
  ttlcache::CodecBackend<std::string, std::string> strings(store);

  maps.set("m", {{"a", 1}, {"b", 2}}, 10min);
  CHECK(redis_cli(server.port, "GET " + ns + ":m") == R"({"a":1,"b":2})");
  strings.set("s", "hello world", 10min);
  CHECK(redis_cli(server.port, "GET " + ns + ":s") == "hello world");

  REQUIRE(redis_cli(server.port, "SET " + ns + ":from-cli '{\"x\":7}'") == "OK");
  CHECK(maps.get("from-cli") == std::map<std::string, int>{{"x", 7}});
  REQUIRE(redis_cli(server.port, "SET " + ns + ":text plain-bytes") == "OK");
  CHECK(strings.get("text") == "plain-bytes");

  // Foreign bytes the codec cannot read: a miss, counted.
  REQUIRE(redis_cli(server.port, "SET " + ns + ":bad not-json") == "OK");
  CHECK_FALSE(maps.get("bad").has_value());
  CHECK(maps.corrupt_values() == 1);
  CHECK(store->corrupt_values() == 0);
}

TEST_CASE("plain value format: framed values still read, damaged ones are counted misses",
          "[redis][format][interop]") {
  const auto& server = shared_server();
  const std::string ns = unique_namespace("migrate");
  auto framed = std::make_shared<RedisStore>(options_for(server, ns));
  RedisOptions plain_options = options_for(server, ns);
  plain_options.value_format = ValueFormat::plain;
  auto plain = std::make_shared<RedisStore>(plain_options);

  framed->set("old", "[1,2]", 10min);
  CHECK(redis_cli(server.port, "GET " + ns + ":old") != "[1,2]");  // the header is in the way
  CHECK(plain->get("old") == "[1,2]");  // a store switched to plain reads what it wrote before

  RawClient raw(server.port);
  raw.command({"SET", ns + ":damaged", std::string("\xF5TC\x01\x01garbage", 12)});
  CHECK_FALSE(plain->get("damaged").has_value());
  CHECK(plain->corrupt_values() == 1);

  // A plain value that would read back as a header is refused, nothing sent.
  CHECK_THROWS_AS(plain->set("x", std::string("\xF5TC-raw", 7), 1min), ttlcache::argument_error);
  CHECK_FALSE(plain->contains("x"));
}

TEST_CASE("near cache: a user that may not track never gets it healthy, reads go to Redis",
          "[redis][tracking]") {
  OwnServer server;
  RawClient admin(server.port());
  REQUIRE(admin.string_reply({"ACL", "SETUSER", "notrack", "on", ">pw", "~*", "&*", "+@all",
                              "-client|tracking"}) == "OK");
  for (TrackingMode mode : {TrackingMode::broadcast, TrackingMode::keys_read}) {
    INFO(mode_name(mode));
    RedisOptions options;
    options.port = server.port();
    options.user = "notrack";
    options.password = "pw";
    options.key_namespace = unique_namespace("notrack");
    auto store = std::make_shared<RedisStore>(options);
    auto near = ttlcache::redis::make_tracked_backend<std::string, std::string>(
        store, TrackingOptions{mode, 1000ms});
    store->set("k", "v", 10min);
    REQUIRE(wait_until([&] { return near.bus->stats().connect_failures >= 2; }));
    CHECK_FALSE(near.bus->healthy());
    CHECK(near.backend->get("k") == "v");
    CHECK(near.backend->get("k") == "v");
    CHECK(near.backend->stats().l1_hits == 0);
    CHECK_FALSE(near.backend->l1().get("k").has_value());
  }
}

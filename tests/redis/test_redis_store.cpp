// Redis store against a real redis-server: data paths, namespaces, limits, corrupt values.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "redis_test_support.hpp"
#include "ttlcache/cache.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/metrics_export.hpp"
#include "ttlcache/redis.hpp"

using namespace std::chrono_literals;
using ttlcache::redis::RedisOptions;
using ttlcache::redis::RedisStore;
using ttlcache_test::options_for;
using ttlcache_test::RawClient;
using ttlcache_test::shared_server;
using ttlcache_test::unique_namespace;
using Write = ttlcache::ByteStore::Write;

namespace {

struct Profile {
  std::string name;
  int score = 0;
};
void to_json(nlohmann::json& j, const Profile& p) { j = {{"name", p.name}, {"score", p.score}}; }
void from_json(const nlohmann::json& j, Profile& p) {
  j.at("name").get_to(p.name);
  j.at("score").get_to(p.score);
}

}  // namespace

TEST_CASE("typed backends round-trip through Redis", "[redis]") {
  const auto ns = unique_namespace("typed");
  auto profiles = ttlcache::redis::make_backend<int, Profile>(options_for(shared_server(), ns));
  CHECK(profiles->name() == "redis");
  profiles->set(42, Profile{"ada", 7}, 10s);
  auto got = profiles->get(42);
  REQUIRE(got.has_value());
  CHECK(got->name == "ada");
  CHECK(got->score == 7);
  CHECK_FALSE(profiles->get(43).has_value());

  // The JSON payload sits behind the value header, under "<namespace>:<key>".
  RawClient raw(shared_server().port);
  const std::string stored = raw.string_reply({"GET", ns + ":42"});
  REQUIRE(stored.size() > 9);
  CHECK(stored.substr(0, 4) == std::string("\xF5TC\x01", 4));
  CHECK(stored.substr(9) == R"({"name":"ada","score":7})");
}

TEST_CASE("binary keys and values survive byte for byte", "[redis]") {
  const auto ns = unique_namespace("binary");
  RedisStore store(options_for(shared_server(), ns));
  const std::vector<std::string> keys = {std::string("nul\0key", 7), "cr\r\nlf",
                                         std::string("\xff\xfe\x00\x01", 4), " spaces and * ?",
                                         std::string(1, '\0')};
  std::vector<std::string> values;
  for (int i = 0; i < 256; ++i) values.emplace_back(1, static_cast<char>(i));
  values.resize(keys.size());
  values[0] = std::string("\0\0\0", 3);
  values[1] = "line1\r\nline2\r\n";
  values[2] = std::string("\xff\xff\xff\x00\xff", 5);
  values[3] = "$5\r\nhello\r\n*1\r\n";  // RESP-looking bytes must not confuse anything
  values[4] = "";
  for (std::size_t i = 0; i < keys.size(); ++i) store.set(keys[i], values[i], 1min);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    CHECK(store.get(keys[i]) == std::optional<std::string>(values[i]));
  }
  auto many = store.get_many(keys);
  for (std::size_t i = 0; i < keys.size(); ++i) CHECK(many[i] == values[i]);

  RawClient raw(shared_server().port);
  CHECK(raw.integer_reply({"EXISTS", ns + ":" + keys[0]}) == 1);
  CHECK(raw.integer_reply({"EXISTS", ns + ":nul"}) == 0);  // no truncation at the NUL
  CHECK(store.erase(keys[2]));
  CHECK_FALSE(store.contains(keys[2]));
}

TEST_CASE("each entry's TTL is what Redis PTTL reports", "[redis]") {
  const auto ns = unique_namespace("pttl");
  RedisStore store(options_for(shared_server(), ns));
  store.set("single", "v", 45s);
  store.set_many({{"short", "a", 5s}, {"medium", "b", 90s}, {"long", "c", 2h}});

  RawClient raw(shared_server().port);
  const std::map<std::string, long long> expected = {
      {"single", 45000}, {"short", 5000}, {"medium", 90000}, {"long", 7200000}};
  for (const auto& [key, ms] : expected) {
    const long long pttl = raw.integer_reply({"PTTL", ns + ":" + key});
    INFO(key);
    CHECK(pttl <= ms);
    CHECK(pttl > ms - 2000);
    auto left = store.ttl(key);
    REQUIRE(left.has_value());
    CHECK(left->count() <= ms);
    CHECK(left->count() > ms - 2000);
  }
  // A key without expiry was not written by ttlcache: no TTL to report.
  raw.command({"SET", ns + ":persistent", "x"});
  CHECK_FALSE(store.ttl("persistent").has_value());
  CHECK_FALSE(store.ttl("absent").has_value());
}

TEST_CASE("MGET and a pipelined set of 10000 entries", "[redis]") {
  const auto ns = unique_namespace("bulk");
  RedisStore store(options_for(shared_server(), ns));
  constexpr int n = 10000;
  std::vector<Write> writes;
  writes.reserve(n);
  for (int i = 0; i < n; ++i) {
    writes.push_back({"k" + std::to_string(i), "value-" + std::to_string(i),
                      std::chrono::milliseconds(60000 + i)});
  }
  store.set_many(writes);
  CHECK(store.size() == static_cast<std::size_t>(n));

  // Every second key misses; the answer keeps the caller's order.
  std::vector<std::string> keys;
  for (int i = 0; i < 2 * n; ++i) keys.push_back("k" + std::to_string(i % 2 ? i / 2 : n + i));
  const auto got = store.get_many(keys);
  REQUIRE(got.size() == keys.size());
  int hits = 0;
  for (int i = 0; i < 2 * n; ++i) {
    if (i % 2) {
      REQUIRE(got[i] == std::optional<std::string>("value-" + std::to_string(i / 2)));
      ++hits;
    } else {
      REQUIRE_FALSE(got[i].has_value());
    }
  }
  CHECK(hits == n);

  RawClient raw(shared_server().port);
  const long long first = raw.integer_reply({"PTTL", ns + ":k0"});
  const long long last = raw.integer_reply({"PTTL", ns + ":k9999"});
  CHECK(first <= 60000);
  CHECK(last <= 69999);
  CHECK(last - first > 9000);  // each entry kept its own TTL
  store.clear();
  CHECK(store.size() == 0);
}

TEST_CASE("glob_escape escapes exactly the glob characters", "[redis]") {
  using ttlcache::redis::glob_escape;
  CHECK(glob_escape("plain:key-1") == "plain:key-1");
  CHECK(glob_escape("*") == "\\*");
  CHECK(glob_escape("a?b[c]d\\e") == "a\\?b\\[c\\]d\\\\e");
  CHECK(glob_escape(std::string("nul\0*", 5)) == std::string("nul\0\\*", 6));
  CHECK(glob_escape("") == "");
}

TEST_CASE("erase_prefix takes glob characters in user input literally", "[redis]") {
  const auto ns = unique_namespace("glob");
  RedisStore store(options_for(shared_server(), ns));
  const std::vector<std::string> users = {"*", "?", "[ab]", "a", "b", "\\", "x*y", "xzy", "1"};
  for (const auto& user : users) {
    store.set("user:" + user + ":profile", "p", 1min);
    store.set("user:" + user + ":files", "f", 1min);
  }
  CHECK(store.size() == 2 * users.size());

  // A user id of "*" deletes only its own keys, not everyone's.
  CHECK(store.erase_prefix("user:*:") == 2);
  CHECK(store.size() == 2 * users.size() - 2);
  CHECK(store.contains("user:a:profile"));
  CHECK(store.erase_prefix("user:?:") == 2);
  CHECK(store.contains("user:1:files"));
  CHECK(store.erase_prefix("user:[ab]:") == 2);
  CHECK(store.contains("user:a:files"));
  CHECK(store.contains("user:b:files"));
  CHECK(store.erase_prefix("user:\\") == 2);
  CHECK(store.erase_prefix("user:x*") == 2);
  CHECK(store.contains("user:xzy:files"));
  CHECK(store.erase_prefix("user:zzz") == 0);
  CHECK(store.erase_prefix("user:a") == 2);
  CHECK(store.size() == 6);  // b, xzy, 1
  CHECK(store.erase_prefix("") == 6);
  CHECK(store.size() == 0);
}

TEST_CASE("clear and size touch only their own namespace", "[redis]") {
  const auto base = unique_namespace("space");
  // Namespaces with glob characters must not match their look-alikes.
  RedisStore star(options_for(shared_server(), base + "*"));
  RedisStore plain(options_for(shared_server(), base + "x"));
  RedisStore nested(options_for(shared_server(), base + "*:inner"));
  for (int i = 0; i < 5; ++i) {
    star.set("k" + std::to_string(i), "s", 1min);
    plain.set("k" + std::to_string(i), "p", 1min);
    nested.set("k" + std::to_string(i), "n", 1min);
  }
  RawClient raw(shared_server().port);
  raw.command({"SET", base + "-foreign", "x", "EX", "60"});

  CHECK(plain.size() == 5);
  CHECK(nested.size() == 5);
  // "<base>*:" is a prefix of "<base>*:inner:" - the namespace only stops at the separator.
  CHECK(star.size() == 10);
  plain.clear();
  CHECK(plain.size() == 0);
  CHECK(star.get("k1") == std::optional<std::string>("s"));
  CHECK(nested.get("k1") == std::optional<std::string>("n"));
  CHECK(raw.integer_reply({"EXISTS", base + "-foreign"}) == 1);
  star.clear();
  CHECK(star.size() == 0);
  CHECK(raw.integer_reply({"EXISTS", base + "-foreign"}) == 1);
}

TEST_CASE("oversized keys and values are rejected before anything is sent", "[redis]") {
  const auto ns = unique_namespace("limits");
  auto options = options_for(shared_server(), ns);
  options.max_key_length = 16;
  options.max_value_size = 64;
  RedisStore store(options);
  RawClient raw(shared_server().port);

  const std::string long_key(17, 'k');
  try {
    store.set(long_key, "v", 1min);
    FAIL("no limit_error");
  } catch (const ttlcache::limit_error& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("redis"));
    CHECK_THAT(what, Catch::Contains("\"kkkkkkkkkkkkkkkkk\""));
    CHECK_THAT(what, Catch::Contains("max_key_length"));
  }
  CHECK_THROWS_AS(store.get(long_key), ttlcache::limit_error);
  CHECK_THROWS_AS(store.get_many({"ok", long_key}), ttlcache::limit_error);

  try {
    store.set("big", std::string(65, 'v'), 1min);
    FAIL("no limit_error");
  } catch (const ttlcache::limit_error& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("redis"));
    CHECK_THAT(what, Catch::Contains("\"big\""));
    CHECK_THAT(what, Catch::Contains("65 bytes"));
  }
  store.set("fits", std::string(64, 'v'), 1min);
  CHECK(store.get("fits")->size() == 64);

  // One bad entry in a batch and none of it reaches Redis.
  CHECK_THROWS_AS(
      store.set_many(
          {{"good1", "v", 1min}, {"bad", std::string(65, 'v'), 1min}, {"good2", "v", 1min}}),
      ttlcache::limit_error);
  CHECK_THROWS_AS(store.set_many({{"good1", "v", 1min}, {"good2", "v", 0ms}}),
                  ttlcache::argument_error);
  CHECK(raw.integer_reply({"EXISTS", ns + ":good1", ns + ":good2", ns + ":bad", ns + ":big"}) == 0);

  // The default value limit is 1 MiB.
  RedisStore defaults(options_for(shared_server(), ns + "-default"));
  defaults.set("mib", std::string(1 << 20, 'x'), 1min);
  CHECK(defaults.get("mib")->size() == (1u << 20));
  CHECK_THROWS_AS(defaults.set("mib+1", std::string((1 << 20) + 1, 'x'), 1min),
                  ttlcache::limit_error);
  defaults.clear();
}

TEST_CASE("foreign or corrupt bytes under our key read as a miss and are counted", "[redis]") {
  const auto ns = unique_namespace("corrupt");
  auto store = std::make_shared<RedisStore>(options_for(shared_server(), ns));
  RawClient raw(shared_server().port);

  store->set("good", "payload bytes", 1min);
  std::string stored = raw.string_reply({"GET", ns + ":good"});
  std::string flipped = stored;
  flipped.back() = static_cast<char>(flipped.back() ^ 0x01);
  std::string future = stored;
  future[3] = '\x02';

  raw.command({"SET", ns + ":foreign", "{\"json\": \"from another client\"}"});
  raw.command({"SET", ns + ":flipped", flipped});
  raw.command({"SET", ns + ":truncated", stored.substr(0, 7)});
  raw.command({"SET", ns + ":future", future});
  raw.command({"SET", ns + ":empty", ""});
  raw.command({"RPUSH", ns + ":list", "a", "b"});

  CHECK(store->corrupt_values() == 0);
  for (const char* key : {"foreign", "flipped", "truncated", "future", "empty", "list"}) {
    INFO(key);
    CHECK_FALSE(store->get(key).has_value());
  }
  CHECK(store->corrupt_values() == 6);
  const auto many = store->get_many({"good", "foreign", "flipped", "list"});
  CHECK(many[0] == std::optional<std::string>("payload bytes"));
  CHECK_FALSE(many[1].has_value());
  CHECK_FALSE(many[2].has_value());
  CHECK_FALSE(many[3].has_value());  // MGET answers nil for a list
  CHECK(store->corrupt_values() == 8);
  CHECK(store->stats().corrupt_values == 8);

  // A value stored without a checksum is accepted; damage then goes unnoticed by design.
  auto options = options_for(shared_server(), ns);
  options.checksum = false;
  RedisStore unchecked(options);
  unchecked.set("plain", "abc", 1min);
  CHECK(raw.string_reply({"GET", ns + ":plain"}) == std::string("\xF5TC\x01\x00"
                                                                "abc",
                                                                8));
  CHECK(store->get("plain") == std::optional<std::string>("abc"));

  // Through the typed layer: a miss, counted by the store, never an exception.
  auto typed = ttlcache::redis::make_backend<std::string, std::string>(store);
  CHECK_FALSE(typed->get("flipped").has_value());
  CHECK(store->corrupt_values() == 9);

  // The store's count reaches Cache::stats() and the Prometheus text (a fresh store, so the
  // figure is this cache's alone).
  auto fresh = std::make_shared<RedisStore>(options_for(shared_server(), ns));
  ttlcache::CacheOptions cache_options;
  cache_options.name = "corrupt";
  ttlcache::Cache<std::string, std::string> cache(
      ttlcache::redis::make_backend<std::string, std::string>(fresh), cache_options);
  CHECK(cache.stats().corrupt_values == 0);
  CHECK_FALSE(cache.get("flipped").has_value());
  CHECK(fresh->corrupt_values() == 1);
  CHECK(cache.stats().corrupt_values == 1);
  CHECK_THAT(ttlcache::to_prometheus(cache.stats()),
             Catch::Contains("ttlcache_corrupt_values_total{cache=\"corrupt\"} 1\n"));
}

TEST_CASE("AUTH as an ACL user, right and wrong password", "[redis]") {
  const auto& server = shared_server();
  auto options = options_for(server, unique_namespace("acl"));
  options.user = server.acl_user;
  options.password = server.acl_password;
  RedisStore store(options);
  store.set("k", "v", 1min);
  CHECK(store.get("k") == std::optional<std::string>("v"));

  RawClient raw(server.port);
  const std::string list = raw.string_reply({"CLIENT", "LIST"});
  CHECK_THAT(list, Catch::Contains("user=" + server.acl_user));

  const std::string url = "redis://" + server.acl_user + ":" + server.acl_password +
                          "@127.0.0.1:" + std::to_string(server.port) + "/0";
  RedisStore by_url(url, options.key_namespace);
  CHECK(by_url.get("k") == std::optional<std::string>("v"));
  CHECK(by_url.describe().find(server.acl_password) == std::string::npos);

  const std::string wrong = "wrong-Secret-4711";
  options.password = wrong;
  try {
    RedisStore refused(options);
    FAIL("AUTH with a wrong password succeeded");
  } catch (const ttlcache::connection_error& e) {
    const std::string what = e.what();
    CHECK(e.backend() == "redis");
    CHECK_THAT(what, Catch::Contains("AUTH"));
    CHECK_THAT(what, Catch::Contains("WRONGPASS"));
    CHECK(what.find(wrong) == std::string::npos);
    CHECK(what.find(server.acl_password) == std::string::npos);
  }
}

TEST_CASE("AUTH with the default user's password", "[redis]") {
  const std::string password = "requirepass-Secret-0815";
  ttlcache_test::OwnServer server({"--requirepass", password});
  auto options = options_for(server.info(), unique_namespace("auth"));
  options.password = password;
  RedisStore store(options);
  store.set("k", "v", 1min);
  CHECK(store.get("k") == std::optional<std::string>("v"));

  RedisStore by_url("redis://:" + password + "@127.0.0.1:" + std::to_string(server.port()),
                    options.key_namespace);
  CHECK(by_url.get("k") == std::optional<std::string>("v"));

  options.password = "not-" + password;
  try {
    RedisStore refused(options);
    FAIL("AUTH with a wrong password succeeded");
  } catch (const ttlcache::connection_error& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("AUTH was refused"));
    CHECK_THAT(what, Catch::Contains(std::to_string(server.port())));
    CHECK(what.find(password) == std::string::npos);
  }

  options.password.clear();
  try {
    RedisStore anonymous(options);
    FAIL("a server with requirepass accepted a client without AUTH");
  } catch (const ttlcache::connection_error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("NOAUTH"));
  }
}

TEST_CASE("the configured database is selected", "[redis]") {
  const auto& server = shared_server();
  const auto ns = unique_namespace("db");
  auto options = options_for(server, ns);
  options.db = 5;
  RedisStore in_five(options);
  in_five.set("k", "five", 1min);

  RawClient raw(server.port);
  CHECK(raw.integer_reply({"EXISTS", ns + ":k"}) == 0);
  raw.command({"SELECT", "5"});
  CHECK(raw.integer_reply({"EXISTS", ns + ":k"}) == 1);

  RedisStore zero(options_for(server, ns));
  CHECK_FALSE(zero.get("k").has_value());
  RedisStore by_url("redis://127.0.0.1:" + std::to_string(server.port) + "/5", ns);
  CHECK(by_url.get("k") == std::optional<std::string>("five"));
  RedisStore by_socket("unix://" + server.unix_socket + "?db=5", ns);
  CHECK(by_socket.get("k") == std::optional<std::string>("five"));
  CHECK(by_socket.describe().rfind("unix://", 0) == 0);

  options.db = 100000;  // the server has 16 databases
  CHECK_THROWS_WITH(RedisStore(options), Catch::Contains("SELECT 100000 was refused"));
}

TEST_CASE("used_memory reports INFO memory", "[redis]") {
  // A server of its own: nothing else allocates between the two readings.
  ttlcache_test::OwnServer server;
  RedisStore store(options_for(server.info(), unique_namespace("memory")));
  const auto reported = store.used_memory();
  CHECK(reported > 100000);  // an empty redis-server 7 uses about 1 MB

  RawClient raw(server.port());
  const std::string info = raw.string_reply({"INFO", "memory"});
  const std::string field = "\r\nused_memory:";
  const auto at = info.find(field);
  REQUIRE(at != std::string::npos);
  const auto raw_used = std::stoull(info.substr(at + field.size()));
  INFO("store " << reported << ", INFO memory " << raw_used);
  const auto diff = reported > raw_used ? reported - raw_used : raw_used - reported;
  CHECK(diff * 10 <= raw_used);
  store.ping();
}

TEST_CASE("batches, erase and clear send MGET, SET, UNLINK and SCAN, never GET or KEYS",
          "[redis]") {
  // A server of its own, so that other tests' commands do not show in its statistics.
  ttlcache_test::OwnServer server;
  RedisStore store(options_for(server.info(), unique_namespace("commands")));
  RawClient raw(server.port());
  std::vector<std::string> keys;
  for (int i = 0; i < 25; ++i) keys.push_back("k" + std::to_string(i));
  for (const auto& key : keys) store.set(key, "v", 1min);

  raw.command({"CONFIG", "RESETSTAT"});
  const auto many = store.get_many(keys);
  CHECK(many.size() == keys.size());
  CHECK(many[7] == std::optional<std::string>("v"));
  store.set_many({{"a1", "x", 1min}, {"a2", "y", 1min}, {"b1", "z", 1min}});
  CHECK(store.erase("k0"));
  store.clear();
  store.set_many({{"p:1", "x", 1min}, {"p:2", "y", 1min}});
  CHECK(store.erase_prefix("p:") == 2);

  const std::string stats = raw.string_reply({"INFO", "commandstats"});
  INFO(stats);
  CHECK_THAT(stats, Catch::Contains("cmdstat_mget:"));
  CHECK_THAT(stats, !Catch::Contains("cmdstat_get:"));
  CHECK_THAT(stats, Catch::Contains("cmdstat_set:calls=5,"));
  CHECK_THAT(stats, Catch::Contains("cmdstat_unlink:"));
  CHECK_THAT(stats, !Catch::Contains("cmdstat_del:"));
  CHECK_THAT(stats, Catch::Contains("cmdstat_scan:"));
  CHECK_THAT(stats, !Catch::Contains("cmdstat_keys:"));
}

TEST_CASE("errors name the key, the server and the cause", "[redis]") {
  auto options = options_for(shared_server(), unique_namespace("errors"));
  options.port = 1;  // nothing listens there
  options.connect_on_start = false;
  options.password = "never-shown-secret";
  RedisStore store(options);  // lazy: starts although Redis is unreachable
  try {
    store.get("user:17");
    FAIL("no connection_error");
  } catch (const ttlcache::connection_error& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::StartsWith("ttlcache redis backend: GET of key \"user:17\""));
    CHECK_THAT(what, Catch::Contains("127.0.0.1:1"));
    CHECK_THAT(what, Catch::Contains("refused"));
    CHECK(what.find("never-shown-secret") == std::string::npos);
  }
  // Within the backoff window calls fail fast and say so.
  try {
    store.set("user:18", "v", 1min);
    FAIL("no connection_error");
  } catch (const ttlcache::connection_error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("SET of key \"user:18\""));
  }
  CHECK(store.stats().connect_failures >= 1);
}

// RedisOptions: URL parsing, validation, and descriptions that never show a password.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>

#include "ttlcache/errors.hpp"
#include "ttlcache/redis/options.hpp"

using ttlcache::config_error;
using ttlcache::redis::RedisOptions;

TEST_CASE("redis:// URLs fill host, port, credentials and database", "[redis][options]") {
  auto o = RedisOptions::from_url("redis://app:p%40ss:w0rd@cache.internal:6380/3");
  CHECK(o.host == "cache.internal");
  CHECK(o.port == 6380);
  CHECK(o.user == "app");
  CHECK(o.password == "p@ss:w0rd");
  CHECK(o.db == 3);
  CHECK(o.unix_socket.empty());

  o = RedisOptions::from_url("redis://localhost");
  CHECK(o.host == "localhost");
  CHECK(o.port == 6379);
  CHECK(o.db == 0);
  CHECK(o.password.empty());

  o = RedisOptions::from_url("redis://:only-password@10.0.0.5:7000/");
  CHECK(o.user.empty());
  CHECK(o.password == "only-password");
  CHECK(o.port == 7000);

  o = RedisOptions::from_url("REDIS://[::1]:6390/2");
  CHECK(o.host == "::1");
  CHECK(o.port == 6390);
  CHECK(o.db == 2);
}

TEST_CASE("unix:// URLs name a socket path and take db=N", "[redis][options]") {
  auto o = RedisOptions::from_url("unix:///run/redis/redis.sock?db=4");
  CHECK(o.unix_socket == "/run/redis/redis.sock");
  CHECK(o.db == 4);
  o = RedisOptions::from_url("unix://svc:secret@/tmp/r.sock");
  CHECK(o.unix_socket == "/tmp/r.sock");
  CHECK(o.user == "svc");
  CHECK(o.password == "secret");
  CHECK(o.db == 0);
}

TEST_CASE("apply_url keeps the fields a URL does not carry", "[redis][options]") {
  RedisOptions o;
  o.key_namespace = "billing";
  o.pool_size = 3;
  o.apply_url("redis://h:1234/1");
  CHECK(o.key_namespace == "billing");
  CHECK(o.pool_size == 3);
  CHECK(o.port == 1234);
}

TEST_CASE("bad URLs are config_errors that never repeat the password", "[redis][options]") {
  const std::string secret = "Sup3rSecret";
  for (const std::string& url :
       {"redis://u:" + secret + "@host:notaport/0", "redis://u:" + secret + "@host:6379/x",
        "rediss://u:" + secret + "@host:0", "http://u:" + secret + "@host",
        "redis://u:" + secret + "@:6379", "redis://u:" + secret + "@host:70000",
        "redis://u:" + secret + "/slash@host:6379", "unix://u:" + secret + "@relative/path",
        std::string("unix:///tmp/s.sock?database=1"), std::string("redis://u:%zz@host"),
        std::string("no-scheme")}) {
    INFO(url);
    try {
      (void)RedisOptions::from_url(url);
      FAIL("accepted");
    } catch (const config_error& e) {
      CHECK(e.path() == "url");
      CHECK(std::string(e.what()).find(secret) == std::string::npos);
      CHECK(std::string(e.what()).find("Secret") == std::string::npos);
    }
  }
}

TEST_CASE("describe() shows where and who, never the password", "[redis][options]") {
  auto o = RedisOptions::from_url("redis://app:hunter2@cache:6380/2");
  o.key_namespace = "svc";
  const std::string d = o.describe();
  CHECK_THAT(d, Catch::StartsWith("redis://app:***@cache:6380/2 namespace=svc"));
  CHECK(d.find("hunter2") == std::string::npos);
}

TEST_CASE("validate() names the offending field", "[redis][options]") {
  auto rejects = [](auto change, const char* field) {
    RedisOptions o;
    change(o);
    try {
      o.validate();
      FAIL("accepted");
    } catch (const config_error& e) {
      CHECK(e.path() == field);
    }
  };
  rejects([](RedisOptions& o) { o.key_namespace.clear(); }, "key_namespace");
  rejects([](RedisOptions& o) { o.pool_size = 0; }, "pool_size");
  rejects([](RedisOptions& o) { o.port = 0; }, "port");
  rejects([](RedisOptions& o) { o.db = -1; }, "db");
  rejects([](RedisOptions& o) { o.client_name = "has space"; }, "client_name");
  rejects([](RedisOptions& o) { o.command_timeout = std::chrono::milliseconds(0); },
          "command_timeout");
  rejects([](RedisOptions& o) { o.reconnect_backoff_max = std::chrono::milliseconds(1); },
          "reconnect_backoff_max");
  rejects([](RedisOptions& o) { o.max_value_size = 0; }, "max_value_size");
  RedisOptions fine;
  fine.validate();
}

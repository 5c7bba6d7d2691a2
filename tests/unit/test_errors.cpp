// Tests for the exception hierarchy: every public error derives from ttlcache::error, the
// accessors carry what the messages name, and errors thrown by real calls say where and why.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "ttlcache/cache.hpp"
#include "ttlcache/circuit_breaker.hpp"
#include "ttlcache/dynamic_ttl.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/memory_backend.hpp"

using namespace std::chrono_literals;

namespace {

// The documented tree (errors.hpp, circuit_breaker.hpp). A new public error type belongs here.
static_assert(std::is_base_of_v<std::runtime_error, ttlcache::error>);
static_assert(std::is_base_of_v<ttlcache::error, ttlcache::config_error>);
static_assert(std::is_base_of_v<ttlcache::error, ttlcache::argument_error>);
static_assert(std::is_base_of_v<ttlcache::argument_error, ttlcache::limit_error>);
static_assert(std::is_base_of_v<ttlcache::error, ttlcache::codec_error>);
static_assert(std::is_base_of_v<ttlcache::error, ttlcache::backend_error>);
static_assert(std::is_base_of_v<ttlcache::backend_error, ttlcache::connection_error>);
static_assert(std::is_base_of_v<ttlcache::backend_error, ttlcache::timeout_error>);
static_assert(std::is_base_of_v<ttlcache::connection_error, ttlcache::breaker_open_error>);
// Failure policies retry backend_error only: caller mistakes must never look like an outage.
static_assert(!std::is_base_of_v<ttlcache::backend_error, ttlcache::argument_error>);
static_assert(!std::is_base_of_v<ttlcache::backend_error, ttlcache::codec_error>);
static_assert(!std::is_base_of_v<ttlcache::backend_error, ttlcache::config_error>);

// Throws e and reports whether `catch (const ttlcache::error&)` caught it, with its what().
template <class E>
std::string caught_as_root(const E& e) {
  try {
    throw e;
  } catch (const ttlcache::error& root) {
    return root.what();
  } catch (...) {
    return "<not a ttlcache::error>";
  }
}

}  // namespace

TEST_CASE("every public error type is caught as ttlcache::error", "[errors]") {
  CHECK(caught_as_root(ttlcache::error("root")) == "root");
  CHECK(caught_as_root(ttlcache::config_error("$.a", "bad")) == "ttlcache config at $.a: bad");
  CHECK(caught_as_root(ttlcache::argument_error("arg")) == "arg");
  CHECK(caught_as_root(ttlcache::limit_error("limit")) == "limit");
  CHECK(caught_as_root(ttlcache::codec_error("codec")) == "codec");
  CHECK(caught_as_root(ttlcache::backend_error("redis", "down")) == "ttlcache redis backend: down");
  CHECK(caught_as_root(ttlcache::connection_error("redis", "refused")) ==
        "ttlcache redis backend: refused");
  CHECK(caught_as_root(ttlcache::timeout_error("redis", "slow")) == "ttlcache redis backend: slow");
  CHECK(caught_as_root(ttlcache::breaker_open_error("redis", "open")) ==
        "ttlcache redis backend: open");
}

TEST_CASE("config_error keeps the JSON path and names it in the message", "[errors]") {
  const ttlcache::config_error at("$.content_types.news.ttl", "must be positive");
  CHECK(at.path() == "$.content_types.news.ttl");
  CHECK(std::string(at.what()) == "ttlcache config at $.content_types.news.ttl: must be positive");

  const ttlcache::config_error nowhere("", "cannot open \"x.json\"");
  CHECK(nowhere.path().empty());
  CHECK(std::string(nowhere.what()) == "ttlcache config: cannot open \"x.json\"");
}

TEST_CASE("backend_error and its subclasses keep the backend name", "[errors]") {
  const ttlcache::timeout_error timeout("redis", "GET of key \"k\" took over 50 ms");
  CHECK(timeout.backend() == "redis");
  CHECK(std::string(timeout.what()) == "ttlcache redis backend: GET of key \"k\" took over 50 ms");

  // Caught through the base, the name is still there (it lives in backend_error, not a copy).
  try {
    throw ttlcache::breaker_open_error("cluster", "breaker open");
  } catch (const ttlcache::backend_error& e) {
    CHECK(e.backend() == "cluster");
  }
}

TEST_CASE("a non-positive TTL names the backend and the value", "[errors]") {
  ttlcache::MemoryBackend<std::string, std::string> backend;
  try {
    backend.set("k", "v", 0ms);
    FAIL("expected argument_error");
  } catch (const ttlcache::argument_error& e) {
    CHECK(std::string(e.what()) == "ttlcache memory backend: TTL must be positive, got 0 ms");
  }

  ttlcache::Cache<std::string, std::string> cache;
  try {
    cache.set("k", "v", -5ms);
    FAIL("expected argument_error");
  } catch (const ttlcache::argument_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("memory backend"));
    CHECK_THAT(e.what(), Catch::Contains("-5 ms"));
  }
  CHECK_FALSE(cache.get("k"));  // nothing stored
}

TEST_CASE("an over-weight entry is a limit_error naming the key and the sizes", "[errors]") {
  ttlcache::MemoryOptions<std::string, std::string> options;
  options.shards = 1;
  options.max_weight = 4;
  options.weigher = [](const std::string&, const std::string& v) { return v.size(); };
  ttlcache::MemoryBackend<std::string, std::string> backend(options);
  try {
    backend.set("k", "too heavy", 1min);
    FAIL("expected limit_error");
  } catch (const ttlcache::limit_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("memory backend"));
    CHECK_THAT(e.what(), Catch::Contains("entry 'k'"));
    CHECK_THAT(e.what(), Catch::Contains("weighs 9"));
    CHECK_THAT(e.what(), Catch::Contains("(4)"));
  }
  CHECK_FALSE(backend.contains("k"));

  options.weigher = nullptr;
  const auto build = [&options] {
    ttlcache::MemoryBackend<std::string, std::string> unused(options);
  };
  CHECK_THROWS_WITH(build(), Catch::Contains("max_weight needs a weigher"));
}

TEST_CASE("a config read from JSON names the path of the bad element", "[errors]") {
  try {
    (void)ttlcache::DynamicTtlConfig::from_json(
        R"({"content_types": {"a": {"ttl": 12, "rulez": []}}})");
    FAIL("expected config_error");
  } catch (const ttlcache::config_error& e) {
    CHECK(e.path() == "$.content_types.a.rulez");
    CHECK_THAT(e.what(), Catch::StartsWith("ttlcache config at $.content_types.a.rulez: "));
  }
  try {
    (void)ttlcache::DynamicTtlConfig::from_json("{not json");
    FAIL("expected config_error");
  } catch (const ttlcache::config_error& e) {
    CHECK(e.path() == "$");
    CHECK_THAT(e.what(), Catch::Contains("invalid JSON"));
  }
}

TEST_CASE("keys in messages are quoted, escaped and truncated", "[errors]") {
  // Messages name the key without letting control bytes or a huge key into logs.
  CHECK(ttlcache::detail::printable_key("a\"b") == "\"a\\\"b\"");
  CHECK(ttlcache::detail::printable_key(std::string("\n\x01\xff", 3)) == "\"\\x0a\\x01\\xff\"");
  const std::string big(100, 'k');
  CHECK(ttlcache::detail::printable_key(big) == "\"" + std::string(64, 'k') + "\"... (100 bytes)");
}

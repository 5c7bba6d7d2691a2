// Tests for KeyBuilder: unambiguous joins, escaping, and shortening of over-long keys.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "ttlcache/errors.hpp"
#include "ttlcache/key.hpp"

using ttlcache::KeyBuilder;
using ttlcache::make_key;

TEST_CASE("make_key joins mixed parts with the separator", "[key]") {
  CHECK(make_key("files", 42, 1, "name") == "files:42:1:name");
  CHECK(make_key("flag", true, false) == "flag:true:false");
  CHECK(make_key("neg", -7, std::string("x")) == "neg:-7:x");
  CHECK(make_key("pi", 2.5) == "pi:2.5");
}

TEST_CASE("different part lists never give the same key", "[key]") {
  std::set<std::string> keys = {
      make_key("a:b"),     make_key("a", "b"),  make_key("a%3Ab"), make_key("a", "", "b"),
      make_key("a", ":b"), make_key("a:", "b"), make_key("a%"),    make_key("a", "%"),
      make_key(""),        make_key("", ""),    make_key("a\nb"),  make_key("a", "b", ""),
  };
  CHECK(keys.size() == 12);
}

TEST_CASE("escaping encodes the separator, percent and control bytes", "[key]") {
  CHECK(make_key("a:b") == "a%3Ab");
  CHECK(make_key("100%") == "100%25");
  CHECK(make_key(std::string("x\0y", 3)) == "x%00y");
  CHECK(make_key("tab\there") == "tab%09here");
  CHECK(make_key("glob*?[]") == "glob*?[]");  // glob bytes are escaped where patterns are built
  KeyBuilder slash({'/', 200});
  CHECK(slash("a/b", "c:d") == "a%2Fb/c:d");
}

TEST_CASE("over-long keys become a readable prefix plus a digest", "[key]") {
  KeyBuilder builder({':', 64});
  const std::string long_part(100, 'x');
  const std::string key = builder("files", long_part);
  CHECK(key.size() == 64);
  CHECK(key.rfind("files:xxx", 0) == 0);
  CHECK(key[64 - 33] == '#');
  // Same input, same key; a one-byte difference at the end, a different key.
  CHECK(builder("files", long_part) == key);
  CHECK(builder("files", long_part + "y") != key);
  // Keys at the limit are untouched.
  const std::string exact = builder(std::string(64, 'k'));
  CHECK(exact == std::string(64, 'k'));
}

TEST_CASE("no part list reproduces a shortened key", "[key]") {
  // A shortened key is short enough to be a plain key: its '#' must not be producible.
  for (const KeyBuilder& builder : {KeyBuilder(), KeyBuilder({':', 64})}) {
    const std::string hashed = builder("user", std::string(300, 'y'));
    REQUIRE(hashed.find('#') != std::string::npos);
    CHECK(builder("user", hashed.substr(5)) != hashed);
    CHECK(builder(hashed) != hashed);
  }
  CHECK(make_key("tag#1") == "tag%231");
  CHECK_THROWS_AS(KeyBuilder({'#', 200}), ttlcache::argument_error);
}

TEST_CASE("the digest is SHA-256", "[key]") {
  // First 16 bytes of SHA-256("abc"), FIPS 180-4 example.
  CHECK(ttlcache::detail::key_digest("abc") == "ba7816bf8f01cfea414140de5dae2223");
  CHECK(ttlcache::detail::key_digest("") == "e3b0c44298fc1c149afbf4c8996fb924");
  // Two-block message (56 bytes), also from FIPS 180-4.
  CHECK(ttlcache::detail::key_digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039");
}

TEST_CASE("bad KeyBuilder options are rejected", "[key]") {
  CHECK_THROWS_AS(KeyBuilder({':', 10}), ttlcache::argument_error);
  CHECK_THROWS_AS(KeyBuilder({'%', 200}), ttlcache::argument_error);
  CHECK_THROWS_AS(KeyBuilder({'\n', 200}), ttlcache::argument_error);
}

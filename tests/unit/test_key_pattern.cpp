// Tests for KeyPattern: matching, escaping of user parts, and pattern removal in process.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "pattern_scenario.hpp"
#include "ttlcache/cache.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/key_pattern.hpp"
#include "ttlcache/memory_layers.hpp"
#include "ttlcache/tags.hpp"

using namespace std::chrono_literals;
using ttlcache::KeyPattern;

TEST_CASE("KeyPattern matches wildcards and takes literal parts literally", "[pattern]") {
  const KeyPattern star_user{KeyPattern::any, ":*:", KeyPattern::any};  // *:{"*"}:*
  CHECK(star_user.matches("files:*:list"));
  CHECK(star_user.matches(":*:"));
  CHECK_FALSE(star_user.matches("files:a:list"));  // the user's '*' is not a wildcard
  CHECK_FALSE(star_user.matches("files:*"));
  const KeyPattern q{"user:", "?", ":", KeyPattern::one};
  CHECK(q.matches("user:?:x"));
  CHECK_FALSE(q.matches("user:a:x"));
  CHECK_FALSE(q.matches("user:?:"));
  CHECK_FALSE(q.matches("user:?:xy"));
  const KeyPattern exact{"abc"};
  CHECK(exact.matches("abc"));
  CHECK_FALSE(exact.matches("abcd"));
  CHECK_FALSE(exact.matches("ab"));
  CHECK(KeyPattern{}.matches(""));
  CHECK_FALSE(KeyPattern{}.matches("a"));
  CHECK(KeyPattern{KeyPattern::any}.matches(""));
  // Backtracking: the first "ab" is not the one that lets the rest match.
  const KeyPattern back{KeyPattern::any, "ab", KeyPattern::any, "abc"};
  CHECK(back.matches("xxabyyabababc"));
  CHECK_FALSE(back.matches("xxabyyababab"));
  // Parts merge: adjacent literals join, repeated `any` collapse.
  KeyPattern built;
  built.literal("a").literal("b").any_run().any_run().one_byte();
  CHECK(built == (KeyPattern{"ab", KeyPattern::any, KeyPattern::one}));
  CHECK(built.parts().size() == 3);
  CHECK(built.literal_prefix() == "ab");
  CHECK(KeyPattern{KeyPattern::any, "x"}.literal_prefix().empty());
  CHECK((KeyPattern{"a*[", KeyPattern::any, "\\", KeyPattern::one}.to_string()) == "a\\*\\[*\\\\?");
}

TEST_CASE("KeyPattern agrees with a brute-force matcher on small inputs", "[pattern]") {
  // Every pattern of up to 4 parts over {"a", "ab", any, one} against every key over {a, b}
  // up to length 5: the backtracking matcher must equal the exhaustive definition.
  const std::vector<KeyPattern::Part> alphabet = {"a", "ab", KeyPattern::any, KeyPattern::one};
  std::vector<std::string> keys = {""};
  for (std::size_t i = 0; i < keys.size() && keys.size() < 63; ++i) {
    if (keys[i].size() < 5) {
      keys.push_back(keys[i] + "a");
      keys.push_back(keys[i] + "b");
    }
  }
  // Exhaustive: does parts[p..] match key[k..]?
  std::function<bool(const std::vector<KeyPattern::Part>&, std::size_t, const std::string&,
                     std::size_t)>
      brute = [&](const auto& parts, std::size_t p, const std::string& key, std::size_t k) {
        if (p == parts.size()) return k == key.size();
        const auto& part = parts[p];
        if (!part.wildcard) {
          return key.compare(k, part.text.size(), part.text) == 0 &&
                 brute(parts, p + 1, key, k + part.text.size());
        }
        if (part.kind == KeyPattern::Wildcard::one_byte) {
          return k < key.size() && brute(parts, p + 1, key, k + 1);
        }
        for (std::size_t j = k; j <= key.size(); ++j) {
          if (brute(parts, p + 1, key, j)) return true;
        }
        return false;
      };
  int checked = 0;
  std::vector<std::vector<std::size_t>> shapes = {{}};
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    if (shapes[i].size() < 4) {
      for (std::size_t a = 0; a < alphabet.size(); ++a) {
        auto next = shapes[i];
        next.push_back(a);
        shapes.push_back(next);
      }
    }
  }
  for (const auto& shape : shapes) {
    KeyPattern pattern;
    std::vector<KeyPattern::Part> raw;
    for (std::size_t a : shape) {
      raw.push_back(alphabet[a]);
      if (alphabet[a].wildcard) {
        if (alphabet[a].kind == KeyPattern::Wildcard::any_run) {
          pattern.any_run();
        } else {
          pattern.one_byte();
        }
      } else {
        pattern.literal(alphabet[a].text);
      }
    }
    for (const auto& key : keys) {
      INFO("pattern " << pattern.to_string() << " key " << key);
      CHECK(pattern.matches(key) == brute(raw, 0, key, 0));
      ++checked;
    }
  }
  CHECK(checked > 10'000);
}

TEST_CASE("in process: a pattern with glob characters in the user part removes only its keys",
          "[pattern]") {
  ttlcache::detail::IndexedMemoryBackend<std::string, std::string> backend(
      ttlcache::MemoryOptions<std::string, std::string>{});
  const auto& users = ttlcache_test::pattern_users();
  for (const auto& user : users) {
    for (const auto& key : ttlcache_test::keys_of(user)) backend.set(key, "v", 1min);
  }
  std::size_t expected = backend.size();
  REQUIRE(expected == 3 * users.size());
  for (const auto& user : users) {
    INFO("user " << user);
    const KeyPattern pattern{KeyPattern::any, ":" + user + ":", KeyPattern::any};
    CHECK(backend.erase_pattern(pattern) == 2);
    expected -= 2;
    CHECK(backend.size() == expected);
    for (const auto& other : users) {
      const auto keys = ttlcache_test::keys_of(other);
      CHECK(backend.contains(keys[2]));  // profile:{u} is outside *:{u}:*
      if (other != user) {
        // Removed only when its own turn came (users are processed in order).
        const bool gone = std::find(users.begin(), users.end(), other) <
                          std::find(users.begin(), users.end(), user);
        CHECK(backend.contains(keys[0]) == !gone);
        CHECK(backend.contains(keys[1]) == !gone);
      }
    }
  }
  // A literal-prefix pattern seeks the index range; anything after it still matches by glob.
  CHECK(backend.erase_pattern(KeyPattern{"profile:", KeyPattern::one}) == 6);  // *, ?, a, b, \, 1
  CHECK(backend.size() == users.size() - 6);
}

TEST_CASE("Cache::invalidate_pattern on the tagged in-process backend", "[pattern]") {
  using StringCache = ttlcache::Cache<std::string, std::string>;
  StringCache cache(ttlcache::make_tagged_memory_backend<std::string, std::string>());
  const auto& users = ttlcache_test::pattern_users();
  for (const auto& user : users) {
    for (const auto& key : ttlcache_test::keys_of(user)) cache.set(key, "v", 1min);
  }
  // The user id "*" removes its own two keys, nobody else's.
  CHECK(cache.invalidate_pattern(KeyPattern{KeyPattern::any, ":*:", KeyPattern::any}) == 2);
  CHECK_FALSE(cache.get("files:*:list"));
  CHECK_FALSE(cache.get("thumbs:*:42"));
  CHECK(cache.get("profile:*"));
  CHECK(cache.get("files:a:list"));
  CHECK(cache.get("files:x*y:list"));
  CHECK(cache.invalidate_pattern(KeyPattern{"files:", KeyPattern::any}) == users.size() - 1);
  CHECK(cache.get("thumbs:a:42"));
  // A plain memory backend has no index: a clear error, nothing removed.
  StringCache plain(std::make_shared<ttlcache::MemoryBackend<std::string, std::string>>());
  plain.set("k", "v", 1min);
  CHECK_THROWS_AS(plain.invalidate_pattern(KeyPattern{KeyPattern::any}), ttlcache::argument_error);
  CHECK(plain.get("k"));
}

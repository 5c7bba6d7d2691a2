// Tests for codecs and CodecBackend: round-trips, corrupt input as a miss, encode errors.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/memory_byte_store.hpp"
#include "ttlcache/codec.hpp"
#include "ttlcache/codec_backend.hpp"

using namespace std::chrono_literals;

namespace demo {
struct User {
  std::int64_t id = 0;
  std::string name;
  std::vector<std::string> roles;
  bool operator==(const User& o) const { return id == o.id && name == o.name && roles == o.roles; }
};
void to_json(nlohmann::json& j, const User& u) {
  j = {{"id", u.id}, {"name", u.name}, {"roles", u.roles}};
}
void from_json(const nlohmann::json& j, User& u) {
  j.at("id").get_to(u.id);
  j.at("name").get_to(u.name);
  j.at("roles").get_to(u.roles);
}
}  // namespace demo

TEST_CASE("key codecs for strings and integers", "[codec]") {
  CHECK(ttlcache::KeyCodec<std::string>::encode("a:b") == "a:b");
  CHECK(ttlcache::KeyCodec<int>::encode(-42) == "-42");
  CHECK(ttlcache::KeyCodec<std::uint64_t>::encode(18446744073709551615ULL) ==
        "18446744073709551615");
}

TEST_CASE("value codecs round-trip", "[codec]") {
  using UserCodec = ttlcache::ValueCodec<demo::User>;
  const demo::User u{7, "ada", {"admin", "dev"}};
  CHECK(UserCodec::decode(UserCodec::encode(u)) == std::optional<demo::User>(u));

  const std::string raw("\0\xff\r\n", 4);
  CHECK(ttlcache::ValueCodec<std::string>::decode(ttlcache::ValueCodec<std::string>::encode(raw)) ==
        std::optional<std::string>(raw));

  const std::vector<std::uint8_t> bytes{0, 1, 255};
  using BytesCodec = ttlcache::ValueCodec<std::vector<std::uint8_t>>;
  CHECK(BytesCodec::encode(bytes) == std::string("\0\x01\xff", 3));
  CHECK(BytesCodec::decode(BytesCodec::encode(bytes)) == std::optional(bytes));

  using IntCodec = ttlcache::ValueCodec<int>;
  CHECK(IntCodec::decode(IntCodec::encode(123)) == std::optional<int>(123));
}

TEST_CASE("corrupt or foreign bytes decode to nothing, never throw", "[codec]") {
  using UserCodec = ttlcache::ValueCodec<demo::User>;
  CHECK_FALSE(UserCodec::decode("{not json"));
  CHECK_FALSE(UserCodec::decode(""));
  CHECK_FALSE(UserCodec::decode(std::string("\xff\xfe\x00", 3)));
  CHECK_FALSE(UserCodec::decode(R"({"id": "seven", "name": "x", "roles": []})"));  // wrong type
  CHECK_FALSE(UserCodec::decode(R"({"id": 1})"));                                  // missing
  CHECK_FALSE(UserCodec::decode("[1,2,3]"));
  CHECK_FALSE(ttlcache::ValueCodec<int>::decode("\"text\""));
}

TEST_CASE("codec backend: typed values through a byte store", "[codec]") {
  auto store = std::make_shared<ttlcache::testing::MemoryByteStore>();
  ttlcache::CodecBackend<std::int64_t, demo::User> backend(store);
  const demo::User u{1, "grace", {"dev"}};
  backend.set(1, u, 1min);
  CHECK(backend.get(1) == std::optional<demo::User>(u));
  CHECK(store->get("1").has_value());  // the integer key was encoded as "1"

  SECTION("corrupt bytes under a key are a miss plus a count") {
    store->put_raw("2", "\x01garbage");
    CHECK_FALSE(backend.get(2));
    CHECK(backend.corrupt_values() == 1);
    const auto many = backend.get_many({1, 2, 3});
    CHECK(many[0] == std::optional<demo::User>(u));
    CHECK_FALSE(many[1]);
    CHECK_FALSE(many[2]);
    CHECK(backend.corrupt_values() == 2);
  }

  SECTION("a value that cannot be encoded is refused with the key named, nothing stored") {
    const demo::User bad{3, std::string("bad utf-8 \xff\xfe"), {}};
    try {
      backend.set(3, bad, 1min);
      FAIL("expected codec_error");
    } catch (const ttlcache::codec_error& e) {
      CHECK_THAT(e.what(), Catch::Contains("\"3\""));
      CHECK_THAT(e.what(), Catch::Contains("memory-bytes"));
    }
    CHECK_FALSE(store->contains("3"));

    std::vector<ttlcache::Write<std::int64_t, demo::User>> batch{{4, u, 1min}, {5, bad, 1min}};
    CHECK_THROWS_AS(backend.set_many(batch), ttlcache::codec_error);
    CHECK_FALSE(store->contains("4"));  // encoded first: a failure writes nothing
  }
}

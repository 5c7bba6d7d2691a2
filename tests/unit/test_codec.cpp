// Tests for codecs and CodecBackend: round-trips, corrupt input as a miss, encode errors.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/memory_byte_store.hpp"
#include "ttlcache/cache.hpp"
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

// A user's own key and value types with hand-written codecs (no JSON), as the docs of KeyCodec
// and ValueCodec invite.
namespace shop {
struct Sku {
  std::string region;
  std::uint32_t number = 0;
  bool operator==(const Sku& o) const { return region == o.region && number == o.number; }
};
struct Price {
  std::int64_t cents = 0;
  std::string currency;
  bool operator==(const Price& o) const { return cents == o.cents && currency == o.currency; }
};
}  // namespace shop

// get_or_load keys its single-flight table by K, so a Cache key type needs a hash.
template <>
struct std::hash<shop::Sku> {
  std::size_t operator()(const shop::Sku& k) const noexcept {
    return std::hash<std::string>{}(k.region) * 31 + k.number;
  }
};

namespace ttlcache {
template <>
struct KeyCodec<shop::Sku> {
  // Injective: the region never contains '/' in this shop.
  static std::string encode(const shop::Sku& k) {
    return k.region + "/" + std::to_string(k.number);
  }
};
template <>
struct ValueCodec<shop::Price> {
  static std::string encode(const shop::Price& p) {
    return "P1|" + std::to_string(p.cents) + "|" + p.currency;
  }
  // Strict: anything but "P1|<integer>|<3 letters>" is unreadable, hence a miss.
  static std::optional<shop::Price> decode(std::string_view bytes) noexcept {
    if (bytes.substr(0, 3) != "P1|") return std::nullopt;
    bytes.remove_prefix(3);
    const auto bar = bytes.find('|');
    if (bar == std::string_view::npos || bytes.size() - bar - 1 != 3) return std::nullopt;
    shop::Price p;
    const auto [end, ec] = std::from_chars(bytes.data(), bytes.data() + bar, p.cents);
    if (ec != std::errc() || end != bytes.data() + bar) return std::nullopt;
    p.currency = std::string(bytes.substr(bar + 1));
    return p;
  }
};
}  // namespace ttlcache

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

TEST_CASE("a Cache over CodecBackend uses the user's KeyCodec and ValueCodec", "[codec]") {
  auto store = std::make_shared<ttlcache::testing::MemoryByteStore>();
  auto backend = std::make_shared<ttlcache::CodecBackend<shop::Sku, shop::Price>>(store);
  ttlcache::Cache<shop::Sku, shop::Price> cache(backend);
  const shop::Sku sku{"eu", 42};
  const shop::Price price{1999, "EUR"};

  cache.set(sku, price, 1min);
  CHECK(cache.get(sku) == std::optional<shop::Price>(price));
  // The bytes are the user's format under the user's key, not the JSON default.
  CHECK(store->get("eu/42") == std::optional<std::string>("P1|1999|EUR"));
  CHECK_FALSE(cache.get(shop::Sku{"us", 42}));

  int loads = 0;
  const auto load = [&] {
    ++loads;
    return shop::Price{500, "USD"};
  };
  const shop::Sku other{"us", 7};
  CHECK(cache.get_or_load(other, load, 1min) == shop::Price{500, "USD"});
  CHECK(cache.get_or_load(other, load, 1min) == shop::Price{500, "USD"});
  CHECK(loads == 1);
  CHECK(store->get("us/7") == std::optional<std::string>("P1|500|USD"));

  SECTION("corrupt bytes under a key read as a miss, counted, and a load replaces them") {
    store->put_raw("eu/43", "P1|12x|EUR");
    const shop::Sku corrupt{"eu", 43};
    CHECK_FALSE(cache.get(corrupt));
    CHECK(backend->corrupt_values() == 1);
    CHECK(cache.stats().corrupt_values == 1);

    CHECK(cache.get_or_load(corrupt, load, 1min) == shop::Price{500, "USD"});
    CHECK(loads == 2);
    CHECK(store->get("eu/43") == std::optional<std::string>("P1|500|USD"));
    CHECK(cache.get(corrupt) == shop::Price{500, "USD"});
  }
}

TEST_CASE("shared values travel as their pointee's bytes, and a null one is refused", "[codec]") {
  using SharedText = std::shared_ptr<const std::string>;
  using SharedUser = std::shared_ptr<const demo::User>;
  CHECK(ttlcache::ValueCodec<SharedText>::encode(std::make_shared<const std::string>("abc")) ==
        "abc");
  const auto text = ttlcache::ValueCodec<SharedText>::decode("xyz");
  REQUIRE(text);
  REQUIRE(*text);
  CHECK(**text == "xyz");

  const demo::User u{7, "ada", {"admin"}};
  const std::string bytes = ttlcache::ValueCodec<demo::User>::encode(u);
  CHECK(ttlcache::ValueCodec<SharedUser>::encode(std::make_shared<const demo::User>(u)) == bytes);
  const auto user = ttlcache::ValueCodec<SharedUser>::decode(bytes);
  REQUIRE(user);
  REQUIRE(*user);
  CHECK(**user == u);
  CHECK_FALSE(ttlcache::ValueCodec<SharedUser>::decode("{not json"));

  // Through a Cache over a byte store: a Cache of T reads what a Cache of shared T wrote, and
  // the other way round.
  auto store = std::make_shared<ttlcache::testing::MemoryByteStore>();
  ttlcache::Cache<std::int64_t, SharedUser> shared(
      std::make_shared<ttlcache::CodecBackend<std::int64_t, SharedUser>>(store));
  ttlcache::Cache<std::int64_t, demo::User> plain(
      std::make_shared<ttlcache::CodecBackend<std::int64_t, demo::User>>(store));
  shared.set(1, std::make_shared<const demo::User>(u), 1min);
  CHECK(plain.get(1) == std::optional<demo::User>(u));
  const demo::User v{8, "bob", {}};
  plain.set(2, v, 1min);
  const auto read = shared.get(2);
  REQUIRE(read);
  REQUIRE(*read);
  CHECK(**read == v);
  CHECK(shared
            .get_or_load(
                3, [&](std::int64_t) { return std::make_shared<const demo::User>(v); }, 1min)
            ->name == "bob");
  CHECK(plain.get(3) == std::optional<demo::User>(v));

  CHECK_THROWS_AS(shared.set(4, nullptr, 1min), ttlcache::codec_error);
  CHECK_THROWS_WITH(shared.set(4, nullptr, 1min),
                    Catch::Contains("\"4\"") && Catch::Contains("null shared value"));
  CHECK_FALSE(store->contains("4"));
}

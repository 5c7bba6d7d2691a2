// The value header and its CRC-32C (white-box: the internal src/redis/value_format.hpp).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "redis/value_format.hpp"

using namespace ttlcache::redis::detail;

TEST_CASE("CRC-32C matches the standard check value on every code path", "[redis][format]") {
  CHECK(crc32c("123456789") == 0xE3069283U);
  CHECK(crc32c_portable("123456789") == 0xE3069283U);
  CHECK(crc32c("") == 0U);
  std::mt19937 rng(7);
  std::string data;
  for (std::size_t n = 0; n < 300; ++n) {
    INFO(n);
    CHECK(crc32c(data) == crc32c_portable(data));
    data.push_back(static_cast<char>(rng()));
  }
}

TEST_CASE("values are wrapped as magic, version, flags, CRC-32C, payload", "[redis][format]") {
  std::string out = "old contents";
  wrap_value(out, "123456789", true);
  CHECK(out == std::string("\xF5TC\x01\x01\x83\x92\x06\xE3"
                           "123456789",
                           18));
  CHECK(unwrap_value(out) == std::optional<std::string_view>("123456789"));
  wrap_value(out, "abc", false);
  CHECK(out == std::string("\xF5TC\x01\x00"
                           "abc",
                           8));
  CHECK(unwrap_value(out) == std::optional<std::string_view>("abc"));
  wrap_value(out, "", true);
  CHECK(unwrap_value(out) == std::optional<std::string_view>(""));

  std::string good;
  wrap_value(good, "payload", true);
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    INFO(i);
    CHECK_FALSE(unwrap_value(bad).has_value());  // every single damaged byte is caught
  }
  for (std::size_t n = 0; n < good.size(); ++n) {
    INFO(n);
    CHECK_FALSE(unwrap_value(good.substr(0, n)).has_value());  // truncated anywhere
  }
  CHECK_FALSE(unwrap_value(std::string("\xF5TC\x01\x02", 5)).has_value());  // unknown flag
}

// The JSON value codec: ValueCodec's primary template, through nlohmann::json.
// SPDX-License-Identifier: MIT
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ttlcache/codec.hpp"

namespace ttlcache {

/// Turns a value into bytes and back. decode() returns nullopt for bytes it cannot read (never
/// throws for bad input): a corrupt value is a miss. encode() may throw; CodecBackend turns that
/// into codec_error naming the key.
///
/// The primary template serialises through nlohmann::json (any type with to_json/from_json):
/// JSON text, so other services and redis-cli can read the values too.
template <class V, class Enable>
struct ValueCodec {
  static std::string encode(const V& value) {
    return nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  }
  static std::optional<V> decode(std::string_view bytes) noexcept {
    try {
      auto json = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
      if (json.is_discarded()) return std::nullopt;
      return json.template get<V>();
    } catch (...) {  // type mismatch, or V's from_json throwing: undecodable means absent
      return std::nullopt;
    }
  }
};

}  // namespace ttlcache

// Key and value codecs: how typed keys and values become bytes for remote backends.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

namespace ttlcache {

/// Turns a key into the string a remote store sees (the store adds its namespace prefix).
/// Provided for std::string and integral types; specialise for your own key types, e.g. with
/// KeyBuilder for composite keys. encode() must be injective: distinct keys, distinct strings.
template <class K, class Enable = void>
struct KeyCodec;

template <>
struct KeyCodec<std::string> {
  static std::string encode(const std::string& key) { return key; }
};

template <class K>
struct KeyCodec<K, std::enable_if_t<std::is_integral_v<K> && !std::is_same_v<K, bool>>> {
  static std::string encode(K key) { return fmt::format("{}", key); }
};

/// Turns a value into bytes and back. decode() returns nullopt for bytes it cannot read (never
/// throws for bad input): a corrupt value is a miss. encode() may throw; CodecBackend turns that
/// into codec_error naming the key. Provided here for std::string and byte vectors (passed
/// through); the primary template, for any type with nlohmann's to_json/from_json (JSON text),
/// is in json_codec.hpp (kept apart so that in-process users never parse nlohmann/json).
/// Other services and redis-cli can read the values only when the store keeps them bare: the
/// Redis store puts a binary header in front by default (RedisOptions::value_format;
/// docs/redis.md, "Value formats").
template <class V, class Enable = void>
struct ValueCodec;

/// Strings are bytes: passed through unchanged.
template <>
struct ValueCodec<std::string> {
  static std::string encode(const std::string& value) { return value; }
  static std::optional<std::string> decode(std::string_view bytes) { return std::string(bytes); }
};

/// Byte vectors are passed through unchanged.
template <class Byte>
struct ValueCodec<std::vector<Byte>, std::enable_if_t<std::is_same_v<Byte, std::uint8_t> ||
                                                      std::is_same_v<Byte, std::byte>>> {
  static std::string encode(const std::vector<Byte>& value) {
    return std::string(reinterpret_cast<const char*>(value.data()), value.size());
  }
  static std::optional<std::vector<Byte>> decode(std::string_view bytes) {
    const auto* p = reinterpret_cast<const Byte*>(bytes.data());
    return std::vector<Byte>(p, p + bytes.size());
  }
};

/// Shared values (Cache<K, std::shared_ptr<const T>>, docs/reading.md) travel as T's own bytes,
/// so a remote store holds the same bytes as for a Cache<K, T> and either can read them. A null
/// pointer cannot be encoded: set() throws codec_error naming the key and stores nothing.
template <class T>
struct ValueCodec<std::shared_ptr<const T>> {
  static std::string encode(const std::shared_ptr<const T>& value) {
    if (!value) throw std::invalid_argument("a null shared value cannot be stored");
    return ValueCodec<T>::encode(*value);
  }
  static std::optional<std::shared_ptr<const T>> decode(std::string_view bytes) {
    std::optional<T> value = ValueCodec<T>::decode(bytes);
    if (!value) return std::nullopt;
    return std::shared_ptr<const T>(std::make_shared<T>(std::move(*value)));
  }
};

}  // namespace ttlcache

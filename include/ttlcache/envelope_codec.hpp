// Codecs of the envelopes the tag and fail-safe layers store (Tagged<V>, Timed<V>) in remote
// stores: a small binary header before the value codec's bytes.
// SPDX-License-Identifier: MIT
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "ttlcache/codec.hpp"
#include "ttlcache/fail_safe.hpp"
#include "ttlcache/json_codec.hpp"
#include "ttlcache/tags.hpp"

namespace ttlcache {

/// Codec of Tagged<V> for remote stores: a small binary header (magic, stamps, expiry) and the
/// payload from VC. Bytes it cannot read decode as nullopt (a miss), never an exception.
template <class V, class VC = ValueCodec<V>>
struct TaggedCodec {
  static constexpr std::array<char, 4> magic{'\xF6', 'T', 'G', '1'};

  static std::string encode(const Tagged<V>& tagged) {
    std::string out(magic.data(), magic.size());
    put64(out, static_cast<std::uint64_t>(tagged.expires_at_ms));
    put32(out, static_cast<std::uint32_t>(tagged.stamps.size()));
    for (const auto& s : tagged.stamps) {
      put32(out, static_cast<std::uint32_t>(s.name.size()));
      out += s.name;
      put64(out, s.version);
    }
    out += VC::encode(tagged.value);
    return out;
  }

  static std::optional<Tagged<V>> decode(std::string_view bytes) noexcept {
    try {
      if (bytes.size() < magic.size() + 12 ||
          bytes.substr(0, magic.size()) != std::string_view(magic.data(), magic.size())) {
        return std::nullopt;
      }
      std::size_t pos = magic.size();
      Tagged<V> out;
      std::uint64_t expiry = 0;
      std::uint32_t count = 0;
      if (!get64(bytes, pos, expiry) || !get32(bytes, pos, count)) return std::nullopt;
      out.expires_at_ms = static_cast<std::int64_t>(expiry);
      if (count > bytes.size()) return std::nullopt;  // each stamp takes at least 12 bytes
      out.stamps.reserve(count);
      for (std::uint32_t i = 0; i < count; ++i) {
        std::uint32_t length = 0;
        Stamp s;
        if (!get32(bytes, pos, length) || bytes.size() - pos < length) return std::nullopt;
        s.name.assign(bytes.substr(pos, length));
        pos += length;
        if (!get64(bytes, pos, s.version)) return std::nullopt;
        out.stamps.push_back(std::move(s));
      }
      std::optional<V> value = VC::decode(bytes.substr(pos));
      if (!value) return std::nullopt;
      out.value = std::move(*value);
      return out;
    } catch (...) {  // bad_alloc on a hostile count, or V's codec throwing: unreadable is a miss
      return std::nullopt;
    }
  }

 private:
  static void put32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  static void put64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  static bool get32(std::string_view in, std::size_t& pos, std::uint32_t& v) {
    if (in.size() - pos < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) {
      v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[pos + i])) << (8 * i);
    }
    pos += 4;
    return true;
  }
  static bool get64(std::string_view in, std::size_t& pos, std::uint64_t& v) {
    if (in.size() - pos < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) {
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[pos + i])) << (8 * i);
    }
    pos += 8;
    return true;
  }
};

template <class V>
struct ValueCodec<Tagged<V>> : TaggedCodec<V> {};

/// Codec of Timed<V> for remote stores: magic, the times, then VC's payload. Bytes it cannot
/// read decode as nullopt (a miss), never an exception.
template <class V, class VC = ValueCodec<V>>
struct TimedCodec {
  static constexpr std::array<char, 4> magic{'\xF6', 'F', 'S', '1'};
  // magic, three 64-bit times, the 32-bit load time, the flag byte
  static constexpr std::size_t header_size = magic.size() + 8 + 8 + 8 + 4 + 1;

  static std::string encode(const Timed<V>& t) {
    std::string out(magic.data(), magic.size());
    put(out, static_cast<std::uint64_t>(t.written_ms), 8);
    put(out, static_cast<std::uint64_t>(t.fresh_until_ms), 8);
    put(out, static_cast<std::uint64_t>(t.stale_until_ms), 8);
    put(out, t.load_us, 4);
    out += t.fail_safe ? '\1' : '\0';
    out += VC::encode(t.value);
    return out;
  }

  static std::optional<Timed<V>> decode(std::string_view bytes) noexcept {
    try {
      if (bytes.size() < header_size ||
          bytes.substr(0, magic.size()) != std::string_view(magic.data(), magic.size())) {
        return std::nullopt;
      }
      std::size_t pos = magic.size();
      Timed<V> out;
      out.written_ms = static_cast<std::int64_t>(get(bytes, pos, 8));
      out.fresh_until_ms = static_cast<std::int64_t>(get(bytes, pos, 8));
      out.stale_until_ms = static_cast<std::int64_t>(get(bytes, pos, 8));
      out.load_us = static_cast<std::uint32_t>(get(bytes, pos, 4));
      const char flag = bytes[pos++];
      if (flag != '\0' && flag != '\1') return std::nullopt;
      out.fail_safe = flag == '\1';
      if (out.fresh_until_ms > out.stale_until_ms) return std::nullopt;
      std::optional<V> value = VC::decode(bytes.substr(pos));
      if (!value) return std::nullopt;
      out.value = std::move(*value);
      return out;
    } catch (...) {  // V's codec throwing: unreadable is a miss
      return std::nullopt;
    }
  }

 private:
  static void put(std::string& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  // Callers checked the size (header_size) first.
  static std::uint64_t get(std::string_view in, std::size_t& pos, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      v |= static_cast<std::uint64_t>(
               static_cast<unsigned char>(in[pos + static_cast<std::size_t>(i)]))
           << (8 * i);
    }
    pos += static_cast<std::size_t>(bytes);
    return v;
  }
};

template <class V>
struct ValueCodec<Timed<V>> : TimedCodec<V> {};

}  // namespace ttlcache

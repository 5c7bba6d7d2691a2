// Composite keys: ("files", user_id, page, sort) -> "files:42:1:name", unambiguous and bounded.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

namespace ttlcache {

namespace detail {
/// Appends part to out, percent-encoding '%', the separator and control bytes, so that
/// distinct part lists never join to the same key.
void append_key_part(std::string& out, std::string_view part, char separator);
/// Lowercase hex of the first 16 bytes of SHA-256(data).
std::string key_digest(std::string_view data);
}  // namespace detail

/// Joins key parts into one string key. Parts may be strings, integers, floating-point
/// numbers or bools, all turned into text (42 and "42" are the same part). Each part is escaped
/// ('%' -> "%25", '#' -> "%23", separator -> "%3A" for ':', control bytes -> "%XX"), so ("a:b")
/// and ("a", "b") give different keys. A key longer than max_length is replaced by its first
/// bytes, '#', and 32 hex digits of its SHA-256: still readable in redis-cli, still unique in
/// practice (128-bit digest), under the limit, and never equal to a plain key (those have no
/// raw '#'). The separator may be any printable byte but '%' and '#'.
/// Thread-safe: const and stateless apart from its options.
class KeyBuilder {
 public:
  struct Options {
    char separator = ':';
    std::size_t max_length = 200;  ///< at least 64
  };

  KeyBuilder() = default;
  explicit KeyBuilder(Options options);

  template <class... Parts>
  std::string operator()(const Parts&... parts) const {
    std::string out;
    out.reserve(64);
    bool first = true;
    (append(out, parts, first), ...);
    return finish(std::move(out));
  }

  const Options& options() const noexcept { return options_; }

 private:
  template <class T>
  void append(std::string& out, const T& part, bool& first) const {
    if (!first) out += options_.separator;
    first = false;
    if constexpr (std::is_same_v<T, bool>) {
      out += part ? "true" : "false";
    } else if constexpr (std::is_arithmetic_v<T>) {
      fmt::format_to(std::back_inserter(out), "{}", part);
    } else {
      detail::append_key_part(out, std::string_view(part), options_.separator);
    }
  }
  std::string finish(std::string key) const;

  Options options_{};
};

/// 32 lowercase hex digits of SHA-256(bytes): a stable key part for content (model inputs,
/// request bodies), the same in every process and on every platform.
inline std::string digest_hex(std::string_view bytes) { return detail::key_digest(bytes); }

/// make_key("files", user_id, page, sort) with the default KeyBuilder options.
template <class... Parts>
std::string make_key(const Parts&... parts) {
  static const KeyBuilder builder;
  return builder(parts...);
}

}  // namespace ttlcache

// Out-of-line parts of the exception hierarchy.
// SPDX-License-Identifier: MIT
#include "ttlcache/errors.hpp"

#include <fmt/format.h>

namespace ttlcache {

config_error::config_error(std::string path, const std::string& reason)
    : error(path.empty() ? fmt::format("ttlcache config: {}", reason)
                         : fmt::format("ttlcache config at {}: {}", path, reason)),
      path_(std::move(path)) {}

backend_error::backend_error(std::string backend, const std::string& message)
    : error(fmt::format("ttlcache {} backend: {}", backend, message)),
      backend_(std::move(backend)) {}

namespace detail {

std::string printable_key(std::string_view key) {
  constexpr std::size_t max_shown = 64;
  std::string out = "\"";
  for (std::size_t i = 0; i < key.size() && i < max_shown; ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (key.size() > max_shown) out += fmt::format("... ({} bytes)", key.size());
  return out;
}

void throw_limit_error(std::string_view what, std::string_view key, std::size_t size,
                       std::size_t limit) {
  throw limit_error(fmt::format("ttlcache: {} for key {} is {} bytes, over the limit of {} bytes",
                                what, printable_key(key), size, limit));
}

void throw_invalid_key(std::string_view key, std::string_view reason) {
  throw argument_error(fmt::format("ttlcache: key {} rejected: {}", printable_key(key), reason));
}

void throw_bad_ttl(std::string_view backend, long long ttl_ms) {
  throw argument_error(
      fmt::format("ttlcache {} backend: TTL must be positive, got {} ms", backend, ttl_ms));
}

}  // namespace detail
}  // namespace ttlcache

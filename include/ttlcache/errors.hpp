// The exception hierarchy: everything ttlcache throws derives from ttlcache::error.
// SPDX-License-Identifier: MIT
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace ttlcache {

/// Root of every exception ttlcache throws. A cache miss is never an error: lookups return
/// std::optional. Messages name the key or JSON path, the backend, and the reason; they never
/// contain credentials.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A configuration was rejected (malformed JSON, a value out of range, an unknown key).
/// path() is the JSON path of the offending element ("" when not from JSON).
class config_error : public error {
 public:
  config_error(std::string path, const std::string& reason);
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

/// An argument was rejected before anything reached the backend (a non-positive TTL, a key
/// with forbidden characters). Nothing was stored or changed.
class argument_error : public error {
 public:
  using error::error;
};

/// A key or value is over a size limit (key length, value size). Nothing was stored or changed.
class limit_error : public argument_error {
 public:
  using argument_error::argument_error;
};

/// A value could not be encoded for a remote backend. (Decoding failures are misses, not
/// errors: corrupt bytes under a key read as absent.)
class codec_error : public error {
 public:
  using error::error;
};

/// A backend failed to carry out an operation. backend() names it ("memory", "redis", ...).
class backend_error : public error {
 public:
  backend_error(std::string backend, const std::string& message);
  const std::string& backend() const noexcept { return backend_; }

 private:
  std::string backend_;
};

/// The backend could not be reached or the connection broke mid-call.
class connection_error : public backend_error {
 public:
  using backend_error::backend_error;
};

/// The backend did not answer within the configured time.
class timeout_error : public backend_error {
 public:
  using backend_error::backend_error;
};

namespace detail {
// Out of line and [[noreturn]] so the throwing code stays off the hot path.
[[noreturn]] void throw_limit_error(std::string_view what, std::string_view key, std::size_t size,
                                    std::size_t limit);
[[noreturn]] void throw_invalid_key(std::string_view key, std::string_view reason);
[[noreturn]] void throw_bad_ttl(std::string_view backend, long long ttl_ms);
/// Renders a key for an error message: printable, quoted, truncated, control bytes escaped.
std::string printable_key(std::string_view key);
}  // namespace detail

}  // namespace ttlcache

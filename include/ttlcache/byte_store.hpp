// The byte-level store interface that remote backends (Redis) implement under CodecBackend.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ttlcache/errors.hpp"
#include "ttlcache/key_pattern.hpp"

namespace ttlcache {

/// A remote key-value store of byte strings with per-entry TTL. Keys reaching it are already
/// encoded by a key codec; the store adds its own namespace prefix. The contract is Backend's
/// (see backend.hpp), at the byte level: binary-safe keys and values, positive TTLs,
/// batch results in the caller's order, nullopt for missing or undecodable values, every
/// member thread-safe.
class ByteStore {
 public:
  struct Write {
    std::string key;
    std::string value;
    std::chrono::milliseconds ttl;
  };

  virtual ~ByteStore() = default;

  virtual std::string_view name() const noexcept = 0;
  virtual std::optional<std::string> get(std::string_view key) = 0;
  virtual void set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) = 0;
  virtual bool erase(std::string_view key) = 0;
  virtual bool contains(std::string_view key) = 0;
  virtual std::optional<std::chrono::milliseconds> ttl(std::string_view key) = 0;
  virtual std::vector<std::optional<std::string>> get_many(
      const std::vector<std::string>& keys) = 0;
  virtual void set_many(const std::vector<Write>& items) = 0;
  /// Removes every key of this store's namespace that starts with literal_prefix (taken
  /// literally: glob characters in it match only themselves). Returns how many were removed.
  virtual std::size_t erase_prefix(std::string_view literal_prefix) = 0;
  /// Removes every key of this store's namespace that matches pattern (its literal parts taken
  /// literally). Returns how many were removed. The default refuses: a store that cannot walk
  /// its keys must not pretend it removed them.
  /// @throws argument_error unless the store implements it (RedisStore does).
  virtual std::size_t erase_pattern(const KeyPattern& pattern) {
    throw argument_error("ttlcache " + std::string(name()) +
                         " store: key patterns are not supported (pattern " + pattern.to_string() +
                         ")");
  }
  /// Removes every key of this store's namespace.
  virtual void clear() = 0;
  virtual std::size_t size() = 0;
  /// Reads whose bytes the store itself rejected (e.g. a failed header check) and served as
  /// misses; CodecBackend adds them to its own count for Cache::stats(). 0 for a store that
  /// checks nothing.
  virtual std::uint64_t corrupt_values() const noexcept { return 0; }
};

}  // namespace ttlcache

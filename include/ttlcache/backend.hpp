// The typed backend interface that every store (memory, Redis, tiered) implements.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace ttlcache {

/// One entry of a batch write; each entry keeps its own TTL.
template <class K, class V>
struct Write {
  K key;
  V value;
  std::chrono::milliseconds ttl;
};

/// The contract every backend keeps. Cache<K,V> talks to one through a single virtual call per
/// operation, so the backend can be chosen at run time (memory or Redis, from a config file).
///
/// Contract:
/// - TTL: set() takes a positive TTL (else argument_error). An entry is never returned once its
///   TTL has passed; how soon its memory is reclaimed is the backend's business.
/// - Misses are std::nullopt, never exceptions. A value the backend cannot decode (corrupt
///   bytes) is a miss.
/// - Batch operations keep the caller's order: get_many()[i] answers keys[i].
/// - Errors: argument_error/limit_error for bad input, raised before anything changes;
///   backend_error (connection_error, timeout_error) for a failing store. After an exception
///   from set/set_many the entries written may be any subset of the batch, never a torn value.
/// - Thread-safety: every member may be called concurrently from any number of threads.
template <class K, class V>
class Backend {
 public:
  using key_type = K;
  using mapped_type = V;

  virtual ~Backend() = default;

  /// A short name for messages and metrics: "memory", "redis", "tiered".
  virtual std::string_view name() const noexcept = 0;

  virtual std::optional<V> get(const K& key) = 0;
  virtual void set(const K& key, V value, std::chrono::milliseconds ttl) = 0;
  /// Removes key; true if a live entry was removed.
  virtual bool erase(const K& key) = 0;
  virtual bool contains(const K& key) = 0;
  /// Remaining lifetime of a live entry, or nullopt when absent or expired.
  virtual std::optional<std::chrono::milliseconds> ttl(const K& key) = 0;

  virtual std::vector<std::optional<V>> get_many(const std::vector<K>& keys) {
    std::vector<std::optional<V>> out;
    out.reserve(keys.size());
    for (const auto& key : keys) out.push_back(get(key));
    return out;
  }
  virtual void set_many(std::vector<Write<K, V>> items) {
    for (auto& item : items) set(item.key, std::move(item.value), item.ttl);
  }

  /// Removes every entry of this cache (for Redis: of this cache's namespace only).
  virtual void clear() = 0;
  /// Entries held. May count expired entries not yet reclaimed (as Redis DBSIZE does).
  virtual std::size_t size() = 0;
};

}  // namespace ttlcache

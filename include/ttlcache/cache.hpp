// Cache<K,V>: the typed cache users hold, over any Backend (memory, Redis, tiered).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ttlcache/backend.hpp"
#include "ttlcache/context.hpp"
#include "ttlcache/detail/single_flight.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/ttl_policy.hpp"

namespace ttlcache {

/// Settings of a Cache.
struct CacheOptions {
  /// Name used in messages and, later, metrics labels.
  std::string name = "default";
  /// TTL of set(key, value) and get_or_load(key, loader) when no TTL is given.
  std::chrono::milliseconds default_ttl = std::chrono::minutes(5);
  /// Computes TTLs for the (content_type, context) overloads; e.g. a DynamicTTL.
  std::shared_ptr<const TtlPolicy> ttl_policy;
};

namespace detail {
template <class Rep, class Period>
std::chrono::milliseconds to_ttl(std::chrono::duration<Rep, Period> d) {
  // Round up so that a positive sub-millisecond TTL stays positive.
  return std::chrono::ceil<std::chrono::milliseconds>(d);
}
}  // namespace detail

/// A typed cache. Lookups return std::optional (a miss is not an error); get_or_load runs the
/// loader once per key however many threads miss at the same time.
///
/// Thread-safety: every member may be called concurrently from any number of threads; the
/// guarantees are those of the backend plus single-flight loading per Cache object.
/// Exceptions: what the backend throws (see Backend's contract) and what loaders throw, which
/// get_or_load passes to every caller waiting on that load. Nothing is cached for a load that
/// threw.
template <class K, class V>
class Cache {
 public:
  using key_type = K;
  using mapped_type = V;
  using backend_type = Backend<K, V>;

  /// A cache over the given backend (shared: several caches, or a tiered backend, may use it).
  explicit Cache(std::shared_ptr<backend_type> backend, CacheOptions options = {})
      : backend_(std::move(backend)), options_(std::move(options)) {
    if (!backend_) throw argument_error("ttlcache: Cache needs a backend");
    if (options_.default_ttl.count() <= 0) {
      detail::throw_bad_ttl(backend_->name(), static_cast<long long>(options_.default_ttl.count()));
    }
  }

  /// A cache over a new in-process backend.
  explicit Cache(MemoryOptions<K, V> memory = {}, CacheOptions options = {})
      : Cache(std::make_shared<MemoryBackend<K, V>>(std::move(memory)), std::move(options)) {}

  // ---- reads ----

  std::optional<V> get(const K& key) { return backend_->get(key); }
  bool contains(const K& key) { return backend_->contains(key); }
  /// Remaining lifetime, or nullopt when absent.
  std::optional<std::chrono::milliseconds> ttl(const K& key) { return backend_->ttl(key); }
  /// Results in the order of keys.
  std::vector<std::optional<V>> get_many(const std::vector<K>& keys) {
    return backend_->get_many(keys);
  }

  // ---- writes ----

  void set(const K& key, V value) { backend_->set(key, std::move(value), options_.default_ttl); }

  template <class Rep, class Period>
  void set(const K& key, V value, std::chrono::duration<Rep, Period> ttl) {
    backend_->set(key, std::move(value), detail::to_ttl(ttl));
  }

  /// Stores with the TTL the cache's TtlPolicy computes for (content_type, context).
  /// Throws argument_error when the cache has no policy.
  void set(const K& key, V value, std::string_view content_type, const Context& context = {}) {
    backend_->set(key, std::move(value), policy_ttl(content_type, context));
  }

  /// Stores every entry with the same TTL (one batch on remote backends).
  template <class Rep, class Period>
  void set_many(std::vector<std::pair<K, V>> items, std::chrono::duration<Rep, Period> ttl) {
    const auto ms = detail::to_ttl(ttl);
    std::vector<Write<K, V>> writes;
    writes.reserve(items.size());
    for (auto& item : items) writes.push_back({std::move(item.first), std::move(item.second), ms});
    backend_->set_many(std::move(writes));
  }
  void set_many(std::vector<std::pair<K, V>> items) {
    set_many(std::move(items), options_.default_ttl);
  }
  /// Stores entries each with its own TTL.
  void set_many(std::vector<Write<K, V>> writes) { backend_->set_many(std::move(writes)); }

  /// true if a live entry was removed.
  bool erase(const K& key) { return backend_->erase(key); }
  void clear() { backend_->clear(); }
  std::size_t size() { return backend_->size(); }

  // ---- loading ----

  /// Returns the cached value, or runs loader (callable as loader(key) or loader()), caches
  /// its result for ttl and returns it. Concurrent callers missing the same key wait for one
  /// load and all receive its value, or its exception.
  template <class Loader, class Rep, class Period>
  V get_or_load(const K& key, Loader&& loader, std::chrono::duration<Rep, Period> ttl) {
    const auto ms = detail::to_ttl(ttl);
    return load_through(key, std::forward<Loader>(loader), [ms] { return ms; });
  }
  template <class Loader>
  V get_or_load(const K& key, Loader&& loader) {
    return get_or_load(key, std::forward<Loader>(loader), options_.default_ttl);
  }
  /// As above, with the TTL from the cache's TtlPolicy (computed after the load, so time-of-day
  /// rules see the time the value was produced).
  template <class Loader>
  V get_or_load(const K& key, Loader&& loader, std::string_view content_type,
                const Context& context = {}) {
    return load_through(key, std::forward<Loader>(loader),
                        [&] { return policy_ttl(content_type, context); });
  }

  // ---- introspection ----

  backend_type& backend() noexcept { return *backend_; }
  std::shared_ptr<backend_type> shared_backend() const noexcept { return backend_; }
  const CacheOptions& options() const noexcept { return options_; }
  /// Keys whose load is running right now.
  std::size_t loads_in_flight() const { return flights_.in_flight(); }

 private:
  template <class Loader, class TtlFn>
  V load_through(const K& key, Loader&& loader, TtlFn&& ttl_fn) {
    if (auto hit = backend_->get(key)) return std::move(*hit);
    return flights_.run(key, [&]() -> V {
      // A load for this key may have finished between our miss and our turn as leader.
      if (auto hit = backend_->get(key)) return std::move(*hit);
      V value = invoke_loader(loader, key);
      backend_->set(key, value, ttl_fn());
      return value;
    });
  }

  template <class Loader>
  static V invoke_loader(Loader& loader, const K& key) {
    if constexpr (std::is_invocable_v<Loader&, const K&>) {
      return static_cast<V>(std::invoke(loader, key));
    } else {
      static_assert(std::is_invocable_v<Loader&>,
                    "a loader is callable as loader(key) or loader() and returns a V");
      return static_cast<V>(std::invoke(loader));
    }
  }

  std::chrono::milliseconds policy_ttl(std::string_view content_type, const Context& context) {
    if (!options_.ttl_policy) {
      throw argument_error("ttlcache cache '" + options_.name +
                           "': a content type was given but the cache has no TTL policy");
    }
    return options_.ttl_policy->ttl_for(content_type, context);
  }

  std::shared_ptr<backend_type> backend_;
  CacheOptions options_;
  detail::SingleFlight<K, V> flights_;
};

}  // namespace ttlcache

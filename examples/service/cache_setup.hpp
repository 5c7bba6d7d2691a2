// The service's cache, configured in one place (the only file that names backends and
// options; every other file uses Cache's calls).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <ttlcache/cache.hpp>

namespace service {

/// Response bodies by key ("file_content:42", ...).
using ServiceCache = ttlcache::Cache<std::string, std::string>;

/// The knobs the service exposes; everything else is the library's defaults.
struct CacheSettings {
  std::uint64_t max_bytes = 256ull << 20;  ///< keys + bodies held in process
  /// A hit in the last 20 % of an entry's TTL reloads it on a background thread.
  double refresh_ahead_at = 0.8;
  /// For this long after its TTL an entry is served at once while one background reload runs.
  std::chrono::seconds stale_while_revalidate{30};
  std::size_t background_threads = 2;
  std::uint64_t seed = 42;  ///< DynamicTTL's jitter
  /// "in-process", "redis" (every read goes to Redis) or "tiered" (an in-process L1 in front of
  /// Redis, kept coherent between instances over pub/sub).
  std::string topology = "in-process";
  std::string redis_url;  ///< redis and tiered: redis://127.0.0.1:6379/0
  /// Keys, tag versions and the invalidation channel live under this prefix; instances that
  /// share a cache use the same one.
  std::string key_namespace = "service";
  /// DynamicTTL's adaptive TTL (issue 18; off by default). The service reports nothing itself:
  /// the cache reports its writes and tag invalidations (told changes, which only lengthen
  /// TTLs) and compares its refresh-ahead, stale-while-revalidate and fail-safe reloads with
  /// the copies they replace (std::string ==): those found changed shorten their type's TTL.
  bool adaptive_ttl = false;
};

/// The service's cache, built with CacheBuilder: tags, fail-safe, refresh-ahead and
/// stale-while-revalidate; byte-bounded in process, Redis, or both tiers; lifetimes
/// from DynamicTTL's shipped defaults (content type, request context, time of day), except
/// 1800 s as the base of the views invalidated by tag (file_list, user_stats, bookmarks);
/// background reloads on the cache's own threads. Throws ttlcache::config_error / argument_error
/// for bad settings, connection_error when Redis cannot be reached, std::invalid_argument for an
/// unknown topology or one this build lacks (Redis needs ttlcache::redis).
std::unique_ptr<ServiceCache> make_service_cache(const CacheSettings& settings);

}  // namespace service

// CacheOptions: the cache-wide settings of a Cache (the builder fills them in for you).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "ttlcache/jitter.hpp"
#include "ttlcache/load_options.hpp"
#include "ttlcache/stats.hpp"
#include "ttlcache/ttl_policy.hpp"

namespace ttlcache {

/// Settings of a Cache. Most users never fill this in: CacheBuilder does (builder.hpp).
struct CacheOptions {
  /// Name used in messages and metrics labels.
  std::string name = "default";
  /// TTL of set(key, value) and get_or_load(key, loader) when no TTL is given.
  std::chrono::milliseconds default_ttl = std::chrono::minutes(5);
  /// Computes TTLs for calls given a content type (EntryOptions::content_type); e.g. a
  /// DynamicTTL.
  std::shared_ptr<const TtlPolicy> ttl_policy;
  /// Statistics: on by default (see docs/observability.md for the cost and the metrics).
  StatsOptions stats;
  /// Event callbacks (removal, invalidation, load failure, backend error, breaker change).
  CacheListeners listeners;
  /// Early refresh, refresh-ahead, fail-safe, timeouts, distributed single-flight.
  LoadOptions loading;
  /// One time budget for each backend call of this cache (a read with its stamp checks, a
  /// write), across all its round trips; 0 = none (each socket wait is then bounded by the
  /// backend's own timeouts only). EntryOptions::deadline overrides it per call.
  std::chrono::milliseconds call_deadline{0};
  /// Spreads every explicit and default TTL over +-jitter percent (jitter.hpp), so that entries
  /// written together do not expire together (a thundering herd). TTLs from the TtlPolicy are
  /// the policy's own business (DynamicTTL has its jitter_percent). Null: no jitter.
  std::shared_ptr<const Jitter> ttl_jitter;
};

}  // namespace ttlcache

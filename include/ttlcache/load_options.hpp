// How Cache loads: early refresh, refresh-ahead, fail-safe, timeouts, distributed
// single-flight, warming. See docs/resilience.md for the contract, option by option.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "ttlcache/lock.hpp"

namespace ttlcache {

/// Runs a task in the background (a thread pool, an event loop). Must run every task it
/// accepts, on any thread, eventually.
using Executor = std::function<void(std::function<void()>)>;

/// Settings of Cache's loading (get_or_load and friends). Everything is off by default.
/// Early refresh, refresh-ahead, stale-while-revalidate and fail-safe need a backend that
/// keeps entry times, a FailSafeBackend (fail_safe.hpp); Cache's constructor rejects them
/// otherwise.
struct LoadOptions {
  /// Probabilistic early refresh (XFetch, Vattani et al., VLDB 2015): a hit refreshes the entry
  /// with probability exp(-t_left / (beta * delta)), delta being how long its load took. The
  /// caller that wins does the load (and gets the new value); others keep the current value.
  bool early_refresh = false;
  double early_refresh_beta = 1.0;

  /// Refresh-ahead: a hit in the last (1 - refresh_ahead_at) of an entry's TTL starts a
  /// background reload (one per key), so keys read often never miss. 0 turns it off; e.g. 0.8
  /// reloads entries read after 80 % of their TTL.
  double refresh_ahead_at = 0.0;

  /// Stale-while-revalidate (as HTTP's Cache-Control extension, RFC 5861): for this long after
  /// an entry's TTL ends, a read returns the expired value at once (LoadResult::stale, counted
  /// as a hit and as stale_served) and starts a background reload (one per key); later reads
  /// get the reloaded value. So a key read less often than once per TTL is still served
  /// without waiting, at most TTL + this old. The backend must keep expired copies at least
  /// this long (FailSafeOptions::max_stale). If the reload fails and fail_safe is on, the
  /// expired copy is stored again for fail_safe_ttl, so a failing source is not retried on
  /// every read. Entries invalidated by erase or a tag are never served. 0 turns it off.
  std::chrono::milliseconds stale_while_revalidate{0};

  /// Fail-safe: when a load throws or passes hard_timeout and a stale copy exists (the backend
  /// keeps them for its max_stale), return the stale copy (LoadResult::stale, counted as
  /// stale_served) and store it again as fresh for fail_safe_ttl, so the failing source is
  /// retried after that, not on every read. Without a stale copy the error reaches the caller.
  bool fail_safe = false;
  std::chrono::milliseconds fail_safe_ttl = std::chrono::seconds(30);

  /// Timeouts of a load (0 = none). After soft_timeout a caller holding a stale copy gets it
  /// (needs fail_safe) while the load goes on in the background and is cached when it ends.
  /// After hard_timeout the caller stops waiting: stale copy if fail_safe has one, else
  /// timeout_error; the load still finishes in the background. With a timeout the loader runs
  /// on the executor, so it must be safe to run on another thread.
  std::chrono::milliseconds soft_timeout{0};
  std::chrono::milliseconds hard_timeout{0};

  /// Where background loads (timeouts, refresh-ahead) run. Null: the cache's own threads
  /// (background_threads of them, started on first use, joined by ~Cache).
  Executor executor;
  std::size_t background_threads = 2;

  /// Distributed single-flight: with a lock service (e.g. redis::RedisLockService), the
  /// instance that takes the lock "<cache name>:load:<key>" loads; the others poll the backend
  /// every lock_poll for up to lock_wait for its value, then load themselves.
  std::shared_ptr<LockService> lock_service;
  std::chrono::milliseconds lock_lease = std::chrono::seconds(10);
  std::chrono::milliseconds lock_wait = std::chrono::seconds(2);
  std::chrono::milliseconds lock_poll = std::chrono::milliseconds(10);

  /// Uniform random numbers in (0, 1] for early refresh; null means an internal generator.
  /// Tests inject a deterministic one.
  std::function<double()> random;
};

/// What get_or_load_result returns.
template <class V>
struct LoadResult {
  V value;
  /// A stale copy served by fail-safe (a failed or slow load); see LoadOptions::fail_safe.
  bool stale = false;
  /// The value came from the cache (a hit), not from a load in this call.
  bool hit = false;
};

/// Progress of warm(): reported after every batch.
struct WarmProgress {
  std::size_t done = 0;    ///< keys finished (loaded, failed or already cached)
  std::size_t total = 0;   ///< keys asked for
  std::size_t failed = 0;  ///< loads that threw
};

/// Settings of warm().
struct WarmOptions {
  std::size_t batch_size = 100;  ///< keys per batch (one batch write each)
  std::size_t concurrency = 4;   ///< batches loading at the same time
  bool skip_cached = true;       ///< look keys up first and load only the missing ones
  std::function<void(const WarmProgress&)> on_progress;  ///< called from the warming threads
};

}  // namespace ttlcache

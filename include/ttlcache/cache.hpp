// Cache<K,V>: the typed cache users hold, over any Backend (memory, Redis, tiered).
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ttlcache/backend.hpp"
#include "ttlcache/backend_stats.hpp"
#include "ttlcache/context.hpp"
#include "ttlcache/detail/background.hpp"
#include "ttlcache/detail/single_flight.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/fail_safe.hpp"
#include "ttlcache/load_options.hpp"
#include "ttlcache/lock.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/stats.hpp"
#include "ttlcache/tags.hpp"
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
  /// Statistics: on by default (see docs/observability.md for the cost and the metrics).
  StatsOptions stats;
  /// Event callbacks (removal, invalidation, load failure, backend error, breaker change).
  CacheListeners listeners;
  /// Early refresh, refresh-ahead, fail-safe, timeouts, distributed single-flight.
  LoadOptions loading;
};

namespace detail {
template <class T, class = void>
struct is_map : std::false_type {};
template <class T>
struct is_map<T, std::void_t<typename T::mapped_type>> : std::true_type {};

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
    init_stats();
    init_loading();
  }

  /// A cache over a new in-process backend. Statistics use memory.clock unless
  /// options.stats.clock is set; options.listeners.on_removal is told about the backend's
  /// removals (after memory.removal_listener).
  explicit Cache(MemoryOptions<K, V> memory = {}, CacheOptions options = {})
      : Cache(make_memory_backend(memory, options), with_stats_clock(options, memory)) {}

  // ---- reads ----

  std::optional<V> get(const K& key) {
    std::optional<V> out = call("get", [&] { return backend_->get(key); });
    if (stats_) out ? stats_->record_hit() : stats_->record_miss();
    return out;
  }
  /// As get(key), also counted under content_type in the statistics.
  std::optional<V> get(const K& key, std::string_view content_type) {
    std::optional<V> out = call("get", [&] { return backend_->get(key); });
    if (stats_) record_read(out.has_value(), &stats_->content_type(content_type));
    return out;
  }
  bool contains(const K& key) {
    return call("contains", [&] { return backend_->contains(key); });
  }
  /// Remaining lifetime, or nullopt when absent.
  std::optional<std::chrono::milliseconds> ttl(const K& key) {
    return call("ttl", [&] { return backend_->ttl(key); });
  }
  /// Results in the order of keys.
  std::vector<std::optional<V>> get_many(const std::vector<K>& keys) {
    auto out = call("get_many", [&] { return backend_->get_many(keys); });
    if (stats_) {
      for (const auto& v : out) v ? stats_->record_hit() : stats_->record_miss();
    }
    return out;
  }

  // ---- writes ----

  void set(const K& key, V value) {
    call("set", [&] { backend_->set(key, std::move(value), options_.default_ttl); });
  }

  template <class Rep, class Period>
  void set(const K& key, V value, std::chrono::duration<Rep, Period> ttl) {
    call("set", [&] { backend_->set(key, std::move(value), detail::to_ttl(ttl)); });
  }

  /// Stores with the TTL the cache's TtlPolicy computes for (content_type, context).
  /// Throws argument_error when the cache has no policy.
  void set(const K& key, V value, std::string_view content_type, const Context& context = {}) {
    const auto ttl = policy_ttl(content_type, context);
    call("set", [&] { backend_->set(key, std::move(value), ttl); });
    if (stats_) stats_->record_set(stats_->content_type(content_type));
  }

  /// Stores every entry with the same TTL (one batch on remote backends).
  template <class Rep, class Period>
  void set_many(std::vector<std::pair<K, V>> items, std::chrono::duration<Rep, Period> ttl) {
    const auto ms = detail::to_ttl(ttl);
    std::vector<Write<K, V>> writes;
    writes.reserve(items.size());
    for (auto& item : items) writes.push_back({std::move(item.first), std::move(item.second), ms});
    call("set_many", [&] { backend_->set_many(std::move(writes)); });
  }
  void set_many(std::vector<std::pair<K, V>> items) {
    set_many(std::move(items), options_.default_ttl);
  }
  /// Stores entries each with its own TTL.
  void set_many(std::vector<Write<K, V>> writes) {
    call("set_many", [&] { backend_->set_many(std::move(writes)); });
  }

  /// true if a live entry was removed. Counted as a key invalidation (whether or not the key was
  /// there: the count is of invalidation requests).
  bool erase(const K& key) {
    const bool removed = call("erase", [&] { return backend_->erase(key); });
    if (stats_) {
      if (stats_->listeners().on_invalidation) {
        const std::string text = detail::key_text(key);
        stats_->record_invalidation(InvalidationKind::key, text);
      } else {
        stats_->record_invalidation(InvalidationKind::key);
      }
    }
    return removed;
  }
  void clear() {
    call("clear", [&] { backend_->clear(); });
  }
  std::size_t size() {
    return call("size", [&] { return backend_->size(); });
  }

  // ---- tags, entity versions, patterns (need a tag-aware backend: see tags.hpp) ----

  /// Stores value carrying tags and entity-type dependencies (`{"user:42", "files"}` or
  /// `Tags{"user:42"}.entity("file")`). Throws argument_error when the backend is not
  /// tag-aware or a tag is empty; otherwise what the backend and its stamp store throw.
  template <class Rep, class Period>
  void set(const K& key, V value, std::chrono::duration<Rep, Period> ttl, const Tags& tags) {
    auto& tagged = detail::tag_support(*backend_);
    const auto ms = detail::to_ttl(ttl);
    tagged.set_stamped(key, std::move(value), ms, tagged.stamps_for(tags, ms));
  }
  /// get_or_load whose result carries tags. The tag versions are read before the loader runs,
  /// so a value loaded while one of its tags is invalidated is stored as already stale.
  template <class Loader, class Rep, class Period>
  V get_or_load(const K& key, Loader&& loader, std::chrono::duration<Rep, Period> ttl,
                const Tags& tags) {
    return get_or_load_result(key, std::forward<Loader>(loader), ttl, tags).value;
  }
  /// The tagged get_or_load, with the result's stale and hit flags. The loading features
  /// (early refresh, refresh-ahead, fail-safe, timeouts) apply as without tags; stale copies
  /// are never served once one of their tags was invalidated.
  template <class Loader, class Rep, class Period>
  LoadResult<V> get_or_load_result(const K& key, Loader&& loader,
                                   std::chrono::duration<Rep, Period> ttl, const Tags& tags) {
    detail::tag_support(*backend_);  // a clear error before anything when not tag-aware
    const auto ms = detail::to_ttl(ttl);
    if (ms.count() <= 0) {
      detail::throw_bad_ttl(backend_->name(), static_cast<long long>(ms.count()));
    }
    return load_through(key, std::forward<Loader>(loader), TtlFn([ms] { return ms; }), nullptr, {},
                        &tags);
  }
  /// Every entry carrying tag becomes a miss, on every instance sharing the backend. O(1).
  void invalidate_tag(std::string_view tag) {
    detail::tag_support(*backend_).invalidate_tags({std::string(tag)});
    if (stats_) stats_->record_invalidation(InvalidationKind::tag, tag);
  }
  void invalidate_tags(const std::vector<std::string>& tags) {
    detail::tag_support(*backend_).invalidate_tags(tags);
    if (stats_) {
      for (const auto& tag : tags) stats_->record_invalidation(InvalidationKind::tag, tag);
    }
  }
  /// Every entry written under the current version of entity_type becomes a miss; returns the
  /// new (opaque, random) version.
  std::uint64_t bump_version(std::string_view entity_type) {
    const std::uint64_t v = detail::tag_support(*backend_).bump_version(entity_type);
    if (stats_) stats_->record_invalidation(InvalidationKind::version, entity_type);
    return v;
  }
  /// The current version of entity_type (created when unknown).
  std::uint64_t version(std::string_view entity_type) {
    return detail::tag_support(*backend_).version(entity_type);
  }
  /// Removes every entry whose encoded key starts with literal_prefix (glob characters match
  /// only themselves); returns how many were removed. For cases without a tag: it walks the
  /// keys (SCAN on Redis), unlike invalidate_tag.
  std::size_t invalidate_matching(std::string_view literal_prefix) {
    const std::size_t n = detail::tag_support(*backend_).invalidate_matching(literal_prefix);
    // One request, whatever it removed (the event carries the count).
    if (stats_) stats_->record_invalidation(InvalidationKind::pattern, literal_prefix, n);
    return n;
  }
  /// Removes every entry whose encoded key matches pattern (literal parts taken literally,
  /// so user text cannot widen it); returns how many. Walks keys like invalidate_matching.
  /// @throws argument_error when the backend has no pattern support.
  std::size_t invalidate_pattern(const KeyPattern& pattern) {
    const std::size_t n = detail::tag_support(*backend_).invalidate_pattern(pattern);
    if (stats_) stats_->record_invalidation(InvalidationKind::pattern, pattern.to_string(), n);
    return n;
  }

  // ---- loading ----

  /// Returns the cached value, or runs loader (callable as loader(key) or loader()), caches
  /// its result for ttl and returns it. Concurrent callers missing the same key wait for one
  /// load and all receive its value, or its exception. options().loading adds early refresh,
  /// refresh-ahead, fail-safe, timeouts and a distributed single-flight (load_options.hpp).
  template <class Loader, class Rep, class Period>
  V get_or_load(const K& key, Loader&& loader, std::chrono::duration<Rep, Period> ttl) {
    return get_or_load_result(key, std::forward<Loader>(loader), ttl).value;
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
    return get_or_load_result(key, std::forward<Loader>(loader), content_type, context).value;
  }

  /// get_or_load that also tells whether the value is a stale fail-safe copy and whether it
  /// was a hit.
  template <class Loader, class Rep, class Period>
  LoadResult<V> get_or_load_result(const K& key, Loader&& loader,
                                   std::chrono::duration<Rep, Period> ttl) {
    const auto ms = detail::to_ttl(ttl);
    if (ms.count() <= 0) {
      detail::throw_bad_ttl(backend_->name(), static_cast<long long>(ms.count()));
    }
    return load_through(key, std::forward<Loader>(loader), TtlFn([ms] { return ms; }));
  }
  template <class Loader>
  LoadResult<V> get_or_load_result(const K& key, Loader&& loader) {
    return get_or_load_result(key, std::forward<Loader>(loader), options_.default_ttl);
  }
  template <class Loader>
  LoadResult<V> get_or_load_result(const K& key, Loader&& loader, std::string_view content_type,
                                   const Context& context = {}) {
    if (!options_.ttl_policy) no_policy();
    return load_through(key, std::forward<Loader>(loader),
                        TtlFn([policy = options_.ttl_policy, type = std::string(content_type),
                               context] { return policy->ttl_for(type, context); }),
                        stats_ ? &stats_->content_type(content_type) : nullptr, content_type);
  }

  /// Looks all keys up at once (one MGET on Redis), calls batch_loader once with the missing
  /// keys (each once, in first-seen order) and writes what it returns in one batch. The loader
  /// returns std::vector<V> or std::vector<std::optional<V>> answering its argument in order
  /// (nullopt: the source has no such key, nothing is cached), or a map from key to value.
  /// Results follow keys' order; nullopt where neither the cache nor the loader had a value.
  /// With fail_safe, a throwing loader is answered from stale copies when every missing key
  /// has one; otherwise its exception reaches the caller.
  template <class BatchLoader, class Rep, class Period>
  std::vector<std::optional<V>> get_many_or_load(const std::vector<K>& keys,
                                                 BatchLoader&& batch_loader,
                                                 std::chrono::duration<Rep, Period> ttl) {
    return load_many(keys, batch_loader, detail::to_ttl(ttl));
  }
  template <class BatchLoader>
  std::vector<std::optional<V>> get_many_or_load(const std::vector<K>& keys,
                                                 BatchLoader&& batch_loader) {
    return load_many(keys, batch_loader, options_.default_ttl);
  }

  /// Loads keys into the cache in batches of options.batch_size, options.concurrency batches at
  /// a time, each batch written in one batch write; for start-up and cold starts. loader is
  /// per key (loader(key) -> V) or per batch (loader(const std::vector<K>&), returning as for
  /// get_many_or_load); it is called from several threads at once. A key whose load throws is
  /// counted as failed and skipped; so is a batch whose write fails. Returns the final counts;
  /// on_progress sees them after every batch (calls are serialised, done never goes down).
  template <class Loader, class Rep, class Period>
  WarmProgress warm(const std::vector<K>& keys, Loader&& loader,
                    std::chrono::duration<Rep, Period> ttl, const WarmOptions& warm_options = {}) {
    return warm_keys(keys, loader, detail::to_ttl(ttl), warm_options);
  }
  template <class Loader>
  WarmProgress warm(const std::vector<K>& keys, Loader&& loader,
                    const WarmOptions& warm_options = {}) {
    return warm_keys(keys, loader, options_.default_ttl, warm_options);
  }

  // ---- introspection ----

  backend_type& backend() noexcept { return *backend_; }
  std::shared_ptr<backend_type> shared_backend() const noexcept { return backend_; }
  const CacheOptions& options() const noexcept { return options_; }
  /// Keys whose load is running right now.
  std::size_t loads_in_flight() const { return flights_.in_flight(); }

  // ---- statistics ----

  /// A snapshot of this cache's statistics plus the backend's own figures (size, removals by
  /// cause, corrupt values). Cheap enough to call per scrape: it sums the striped counters and
  /// takes no lock the hot path takes. Thread-safe. Throws std::bad_alloc only.
  CacheStats stats() const {
    CacheStats out;
    if (stats_) {
      stats_->snapshot_into(out);
    } else {
      out.cache = options_.name;
      out.enabled = false;
    }
    out.backend = std::string(backend_->name());
    out.loads_in_flight = flights_.in_flight();
    if (source_) {
      BackendStats b;
      source_->collect_stats(b);
      out.entries = b.entries;
      out.weight_bytes = b.weight;
      out.removals = b.removals;
      out.corrupt_values = b.corrupt_values;
      for (const auto& tier : b.tiers) {
        TierStats& t = out.tiers[tier.name];
        t.hits += tier.hits;
        t.misses += tier.misses;
      }
      if (b.remote_invalidations) {
        out.invalidations[static_cast<std::size_t>(InvalidationKind::remote)] +=
            *b.remote_invalidations;
      }
    }
    return out;
  }
  /// The recorder, for layers that record into this cache's statistics (tiers, fail-safe,
  /// invalidation); null when statistics are off.
  StatsRecorder* stats_recorder() const noexcept { return stats_.get(); }
  std::shared_ptr<StatsRecorder> shared_stats_recorder() const noexcept { return stats_; }

 private:
  using ContentTypeCounters = StatsRecorder::ContentTypeCounters;
  using TtlFn = std::function<std::chrono::milliseconds()>;
  using LoaderFn = std::function<V()>;

  // What background loads need, shared so that a task outliving a call (or, with a user
  // executor, the Cache) never touches the Cache object itself.
  struct Background {
    std::shared_ptr<backend_type> backend;
    TimedCapable<K, V>* timed = nullptr;  // owned by backend
    TagCapable<K, V>* tags = nullptr;     // owned by backend; null when not tag-aware
    std::shared_ptr<StatsRecorder> stats;
    std::chrono::milliseconds fail_safe_ttl{0};  // > 0 when fail_safe is on
    std::mutex mutex;
    std::unordered_map<K, std::shared_ptr<detail::PendingLoad<V>>> running;
  };

  template <class Loader>
  LoadResult<V> load_through(const K& key, Loader&& loader, const TtlFn& ttl_fn,
                             ContentTypeCounters* ct = nullptr, std::string_view content_type = {},
                             const Tags* tags = nullptr) {
    if (timed_) return load_timed(key, loader, ttl_fn, ct, content_type, tags);
    if (auto hit = call("get", [&] { return backend_->get(key); })) {
      if (stats_) record_read(true, ct);
      return {std::move(*hit), false, true};
    }
    if (stats_) record_read(false, ct);
    return flights_.run(key, [&]() -> LoadResult<V> {
      // A load for this key may have finished between our miss and our turn as leader.
      if (auto hit = call("get", [&] { return backend_->get(key); })) {
        return {std::move(*hit), false, true};
      }
      std::optional<Timed<V>> no_stale;
      return lead_load(key, loader, ttl_fn, ct, content_type, no_stale, tags);
    });
  }

  // The path over a backend that keeps entry times (fail-safe, early refresh, refresh-ahead).
  template <class Loader>
  LoadResult<V> load_timed(const K& key, Loader& loader, const TtlFn& ttl_fn,
                           ContentTypeCounters* ct, std::string_view content_type,
                           const Tags* tags) {
    std::optional<Timed<V>> entry = call("get", [&] { return timed_->get_timed(key); });
    const std::int64_t now_us = timed_->now_us();
    if (entry && now_us < entry->fresh_until_ms * 1000) {
      if (stats_) record_read(true, ct);
      if (entry->fail_safe) {  // a stale copy standing in while the source fails
        if (stats_) stats_->record_stale_served(ct);
        return {std::move(entry->value), true, true};
      }
      const LoadOptions& lo = options_.loading;
      if (lo.early_refresh && refresh_early(*entry, now_us)) {
        auto refreshed = flights_.try_run(key, [&]() -> LoadResult<V> {
          try {
            std::optional<Timed<V>> no_stale;
            return lead_load(key, loader, ttl_fn, ct, content_type, no_stale, tags);
          } catch (...) {  // the current value is still fresh: keep serving it
            return {entry->value, false, true};
          }
        });
        if (refreshed) return std::move(*refreshed);
      } else if (lo.refresh_ahead_at > 0 && due_for_refresh(*entry, now_us)) {
        refresh_ahead(key, loader, ttl_fn, ct, content_type, tags);
      }
      return {std::move(entry->value), false, true};
    }
    if (entry && within_revalidate_window(*entry, now_us) &&
        refresh_ahead(key, loader, ttl_fn, ct, content_type, tags, *entry)) {
      if (stats_) {
        record_read(true, ct);
        stats_->record_stale_served(ct);
      }
      return {std::move(entry->value), true, true};
    }
    if (stats_) record_read(false, ct);
    return flights_.run(key, [&]() -> LoadResult<V> {
      auto again = call("get", [&] { return timed_->get_timed(key); });
      if (again && timed_->now_ms() < again->fresh_until_ms) {
        return {std::move(again->value), again->fail_safe, true};
      }
      if (!again) again = std::move(entry);
      if (again && timed_->now_ms() >= again->stale_until_ms) again.reset();
      return lead_load(key, loader, ttl_fn, ct, content_type, again, tags);
    });
  }

  // XFetch: refresh with probability exp(-t_left / (beta * delta)), i.e. when
  // -beta * delta * ln(u) >= t_left for u uniform in (0, 1].
  bool refresh_early(const Timed<V>& entry, std::int64_t now_us) const {
    if (entry.load_us == 0) return false;
    const double t_left = static_cast<double>(entry.fresh_until_ms * 1000 - now_us);
    const double delta = options_.loading.early_refresh_beta * static_cast<double>(entry.load_us);
    return -delta * std::log(uniform()) >= t_left;
  }
  double uniform() const {
    if (options_.loading.random) return options_.loading.random();
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return 1.0 - std::uniform_real_distribution<double>(0.0, 1.0)(rng);  // (0, 1]
  }
  // Stale-while-revalidate: expired, but by less than the window (and still kept).
  bool within_revalidate_window(const Timed<V>& entry, std::int64_t now_us) const {
    const std::int64_t window = options_.loading.stale_while_revalidate.count();
    return window > 0 && now_us < (entry.fresh_until_ms + window) * 1000 &&
           now_us < entry.stale_until_ms * 1000;
  }
  bool due_for_refresh(const Timed<V>& entry, std::int64_t now_us) const {
    const double total = static_cast<double>(entry.fresh_until_ms - entry.written_ms) * 1000.0;
    const double elapsed = static_cast<double>(now_us - entry.written_ms * 1000);
    return total > 0 && elapsed >= options_.loading.refresh_ahead_at * total;
  }

  // Starts a background reload of key unless one is running. `current`, when given, is the
  // expired copy stale-while-revalidate serves: kept for fail_safe_ttl if the reload fails.
  // False when the reload cannot run in the background (a move-only loader, or the tag stamps
  // could not be read), so stale-while-revalidate loads in the foreground instead.
  template <class Loader>
  bool refresh_ahead(const K& key, Loader& loader, const TtlFn& ttl_fn, ContentTypeCounters* ct,
                     std::string_view content_type, const Tags* tags,
                     std::optional<Timed<V>> current = std::nullopt) {
    if constexpr (std::is_copy_constructible_v<std::decay_t<Loader>>) {
      {  // one refresh per key at a time; a load already running will store a fresh value
        std::lock_guard<std::mutex> lock(bg_->mutex);
        if (bg_->running.count(key) != 0) return true;
      }
      try {
        start_background(key, loader, ttl_fn, ct, content_type, stamps_for(tags, ttl_fn),
                         std::move(current));
      } catch (const error&) {  // the stamps could not be read: no refresh this time
        return false;
      }
      return true;
    } else {
      return false;
    }
  }

  // The tag versions a load is stored under, read before it runs (so a tag invalidated during
  // the load leaves the value stale); nullopt without tags.
  std::optional<std::vector<Stamp>> stamps_for(const Tags* tags, const TtlFn& ttl_fn) {
    if (!tags) return std::nullopt;
    return detail::tag_support(*backend_).stamps_for(*tags, ttl_fn());
  }

  // The leader's load: distributed lock (optional), then the loader, directly or on the
  // executor when timeouts are set; fail-safe answers a failure from stale when it can.
  template <class Loader>
  LoadResult<V> lead_load(const K& key, Loader& loader, const TtlFn& ttl_fn,
                          ContentTypeCounters* ct, std::string_view content_type,
                          std::optional<Timed<V>>& stale, const Tags* tags) {
    const LoadOptions& lo = options_.loading;
    std::unique_ptr<LockLease> lease;
    struct Release {
      std::unique_ptr<LockLease>& lease;
      ~Release() {
        if (!lease) return;
        try {
          lease->release();
        } catch (...) {  // the lease runs out by itself
        }
      }
    } release{lease};
    if (lo.lock_service) {
      if (auto peer = wait_for_peer(key, lease)) return std::move(*peer);
    }
    auto stamps = stamps_for(tags, ttl_fn);
    if (lo.soft_timeout.count() > 0 || lo.hard_timeout.count() > 0) {
      return load_with_timeouts(key, loader, ttl_fn, ct, content_type, stale, stamps);
    }
    const std::int64_t started = clock_us(timed_);
    std::optional<V> value;
    try {
      value.emplace(run_loader(loader, key, ct, content_type));
    } catch (...) {
      if (lo.fail_safe && stale) return serve_stale(key, std::move(*stale), ct, true, stamps);
      throw;
    }
    const std::int64_t took = clock_us(timed_) - started;
    const auto ttl = ttl_fn();
    call("set", [&] { store(*bg_, key, *value, ttl, took, stamps); });
    return {std::move(*value), false, false};
  }

  // Distributed single-flight. Takes the lock, or waits for the holder's value; nullopt means
  // "load it here" (with lease set when we hold the lock).
  std::optional<LoadResult<V>> wait_for_peer(const K& key, std::unique_ptr<LockLease>& lease) {
    const LoadOptions& lo = options_.loading;
    const std::string name = options_.name + ":load:" + detail::key_text(key);
    enum class Got { lock, busy, unavailable };
    auto take = [&] {
      try {
        lease = lo.lock_service->try_lock(name, lo.lock_lease);
      } catch (const error&) {  // lock service down: load without it rather than not at all
        lease.reset();
        return Got::unavailable;
      }
      return lease ? Got::lock : Got::busy;
    };
    auto fresh = [&]() -> std::optional<LoadResult<V>> {
      try {
        if (auto hit = backend_->get(key)) return LoadResult<V>{std::move(*hit), false, true};
      } catch (const backend_error&) {
      }
      return std::nullopt;
    };
    Got got = take();
    const auto deadline = std::chrono::steady_clock::now() + lo.lock_wait;
    while (got == Got::busy && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(lo.lock_poll);
      if (auto hit = fresh()) return hit;
      got = take();
    }
    // Holding the lock: the previous holder may have stored the value just before releasing.
    if (got == Got::lock) return fresh();
    return std::nullopt;
  }

  template <class Loader>
  LoadResult<V> load_with_timeouts(const K& key, Loader& loader, const TtlFn& ttl_fn,
                                   ContentTypeCounters* ct, std::string_view content_type,
                                   std::optional<Timed<V>>& stale,
                                   const std::optional<std::vector<Stamp>>& stamps) {
    const LoadOptions& lo = options_.loading;
    auto pending = start_background(key, loader, ttl_fn, ct, content_type, stamps);
    const bool can_serve_stale = lo.fail_safe && stale.has_value();
    std::chrono::milliseconds waited{0};
    if (lo.soft_timeout.count() > 0 && can_serve_stale) {
      if (!pending->wait_for(lo.soft_timeout)) return serve_stale(key, *stale, ct, false, stamps);
      waited = lo.soft_timeout;
    }
    bool done = true;
    if (lo.hard_timeout.count() > 0) {
      done = pending->wait_for(lo.hard_timeout - waited);
    } else {
      pending->wait_for(std::chrono::milliseconds(0));  // no hard timeout: as long as it takes
    }
    if (!done) {
      if (can_serve_stale) return serve_stale(key, *stale, ct, false, stamps);
      throw timeout_error("loader", "ttlcache cache '" + options_.name + "': the load of key " +
                                        detail::key_text(key) + " did not finish within " +
                                        std::to_string(lo.hard_timeout.count()) +
                                        " ms (hard_timeout); it goes on in the background");
    }
    try {
      return {pending->get(), false, false};
    } catch (...) {
      if (can_serve_stale) return serve_stale(key, std::move(*stale), ct, true, stamps);
      throw;
    }
  }

  // Fail-safe: the stale copy is served; after a failed load it is also stored again as fresh
  // for fail_safe_ttl (never past its stale_until), so the source is retried after that.
  // With tags the copy is stored under the versions read for this load: it came from a
  // stamp-checked read, so none of its tags was invalidated since it was written.
  LoadResult<V> serve_stale(const K& key, Timed<V> stale, ContentTypeCounters* ct, bool restore,
                            const std::optional<std::vector<Stamp>>& stamps) {
    if (restore) {
      const std::int64_t now = timed_->now_ms();
      Timed<V> copy = stale;
      copy.fail_safe = true;
      copy.fresh_until_ms =
          std::min(now + options_.loading.fail_safe_ttl.count(), copy.stale_until_ms);
      if (copy.fresh_until_ms > now) {
        try {
          call("set", [&] {
            if (stamps) {
              timed_->set_timed_stamped(key, std::move(copy), *stamps);
            } else {
              timed_->set_timed(key, std::move(copy));
            }
          });
        } catch (const error&) {  // serving matters more than remembering
        }
      }
    }
    if (stats_) stats_->record_stale_served(ct);
    return {std::move(stale.value), true, false};
  }

  // Starts (or joins) the background load of key; the loader must be copyable.
  template <class Loader>
  std::shared_ptr<detail::PendingLoad<V>> start_background(
      const K& key, Loader& loader, const TtlFn& ttl_fn, ContentTypeCounters* ct,
      std::string_view content_type, std::optional<std::vector<Stamp>> stamps,
      std::optional<Timed<V>> keep_on_failure = std::nullopt) {
    if constexpr (!std::is_copy_constructible_v<std::decay_t<Loader>>) {
      throw argument_error("ttlcache cache '" + options_.name +
                           "': soft_timeout/hard_timeout run the loader in the background, so "
                           "it must be copyable");
    } else {
      std::shared_ptr<detail::PendingLoad<V>> pending;
      {
        std::lock_guard<std::mutex> lock(bg_->mutex);
        auto [it, inserted] = bg_->running.try_emplace(key);
        if (!inserted) return it->second;
        it->second = std::make_shared<detail::PendingLoad<V>>();
        pending = it->second;
      }
      LoaderFn fn = [loader = std::decay_t<Loader>(loader), key]() mutable {
        return invoke_loader(loader, key);
      };
      auto task = [bg = bg_, key, fn = std::move(fn), ttl_fn, ct, type = std::string(content_type),
                   pending, stamps = std::move(stamps),
                   keep = std::move(keep_on_failure)]() mutable {
        run_background(*bg, key, fn, ttl_fn, ct, type, pending, stamps, keep);
      };
      try {
        submit(std::move(task));
      } catch (...) {
        pending->fail(std::current_exception());
        std::lock_guard<std::mutex> lock(bg_->mutex);
        bg_->running.erase(key);
      }
      return pending;
    }
  }

  static void run_background(Background& bg, const K& key, LoaderFn& fn, const TtlFn& ttl_fn,
                             ContentTypeCounters* ct, const std::string& content_type,
                             const std::shared_ptr<detail::PendingLoad<V>>& pending,
                             const std::optional<std::vector<Stamp>>& stamps,
                             std::optional<Timed<V>>& keep_on_failure) {
    const std::int64_t start_ns = bg.stats ? bg.stats->now_ns() : 0;
    const std::int64_t started = clock_us(bg.timed);
    try {
      V value = fn();
      const std::int64_t took = clock_us(bg.timed) - started;
      if (bg.stats) bg.stats->record_load(bg.stats->now_ns() - start_ns, ct);
      try {
        store(bg, key, value, ttl_fn(), took, stamps);
      } catch (const backend_error&) {
        if (bg.stats)
          bg.stats->record_backend_error(bg.backend->name(), "set", std::current_exception());
      } catch (...) {  // the callers still get the value
      }
      pending->succeed(std::move(value));
    } catch (...) {
      if (bg.stats) {
        bg.stats->record_load_failure(bg.stats->now_ns() - start_ns, std::current_exception(),
                                      content_type, ct);
      }
      if (keep_on_failure && bg.fail_safe_ttl.count() > 0) {
        keep_stale(bg, key, std::move(*keep_on_failure), stamps);
      }
      pending->fail(std::current_exception());
    }
    std::lock_guard<std::mutex> lock(bg.mutex);
    const auto it = bg.running.find(key);
    if (it != bg.running.end() && it->second == pending) bg.running.erase(it);
  }

  // A failed revalidation under fail-safe: the expired copy stands in for fail_safe_ttl (never
  // past its stale_until), so the failing source is not retried on every read.
  static void keep_stale(Background& bg, const K& key, Timed<V> copy,
                         const std::optional<std::vector<Stamp>>& stamps) noexcept {
    try {
      const std::int64_t now = bg.timed->now_ms();
      copy.fail_safe = true;
      copy.fresh_until_ms = std::min(now + bg.fail_safe_ttl.count(), copy.stale_until_ms);
      if (copy.fresh_until_ms <= now) return;
      if (stamps) {
        bg.timed->set_timed_stamped(key, std::move(copy), *stamps);
      } else {
        bg.timed->set_timed(key, std::move(copy));
      }
    } catch (...) {  // serving matters more than remembering
    }
  }

  static void store(Background& bg, const K& key, const V& value, std::chrono::milliseconds ttl,
                    std::int64_t took_us, const std::optional<std::vector<Stamp>>& stamps) {
    if (bg.timed) {
      const auto us =
          std::clamp<std::int64_t>(took_us, 0, std::numeric_limits<std::uint32_t>::max());
      auto entry = bg.timed->make_entry(value, ttl, static_cast<std::uint32_t>(us));
      if (stamps) {
        bg.timed->set_timed_stamped(key, std::move(entry), *stamps);
      } else {
        bg.timed->set_timed(key, std::move(entry));
      }
    } else if (stamps && bg.tags) {
      bg.tags->set_stamped(key, value, ttl, *stamps);
    } else {
      bg.backend->set(key, value, ttl);
    }
  }

  static std::int64_t clock_us(const TimedCapable<K, V>* timed) noexcept {
    if (timed) return timed->now_us();
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  void submit(std::function<void()> task) {
    if (options_.loading.executor) {
      options_.loading.executor(std::move(task));
      return;
    }
    std::call_once(pool_once_, [&] {
      pool_ = std::make_unique<detail::WorkerPool>(options_.loading.background_threads);
    });
    pool_->submit(std::move(task));
  }

  // ---- batches ----

  template <class BatchLoader>
  std::vector<std::optional<V>> call_batch_loader(BatchLoader& loader, const std::vector<K>& keys) {
    auto got = std::invoke(loader, keys);
    using R = std::decay_t<decltype(got)>;
    std::vector<std::optional<V>> out(keys.size());
    if constexpr (detail::is_map<R>::value) {
      for (std::size_t i = 0; i < keys.size(); ++i) {
        const auto it = got.find(keys[i]);
        if (it != got.end()) out[i] = std::move(it->second);
      }
    } else {
      if (got.size() != keys.size()) {
        throw argument_error("ttlcache cache '" + options_.name + "': the batch loader returned " +
                             std::to_string(got.size()) + " values for " +
                             std::to_string(keys.size()) + " keys");
      }
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if constexpr (std::is_same_v<typename R::value_type, std::optional<V>>) {
          out[i] = std::move(got[i]);
        } else {
          out[i] = static_cast<V>(std::move(got[i]));
        }
      }
    }
    return out;
  }

  // Reads keys; fresh values into out, stale copies (fail-safe) into stale.
  void read_many(const std::vector<K>& keys, std::vector<std::optional<V>>& out,
                 std::vector<std::optional<Timed<V>>>* stale) {
    if (!timed_) {
      out = call("get_many", [&] { return backend_->get_many(keys); });
      return;
    }
    auto timed = call("get_many", [&] { return timed_->get_many_timed(keys); });
    const std::int64_t now = timed_->now_ms();
    out.assign(keys.size(), std::nullopt);
    if (stale) stale->assign(keys.size(), std::nullopt);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (!timed[i]) continue;
      if (now < timed[i]->fresh_until_ms) {
        out[i] = std::move(timed[i]->value);
      } else if (stale) {
        (*stale)[i] = std::move(timed[i]);
      }
    }
  }

  void write_many(std::vector<K> keys, std::vector<std::optional<V>> values,
                  std::chrono::milliseconds ttl, std::int64_t took_us) {
    if (timed_) {
      const auto us = static_cast<std::uint32_t>(
          std::clamp<std::int64_t>(took_us, 0, std::numeric_limits<std::uint32_t>::max()));
      std::vector<std::pair<K, Timed<V>>> entries;
      entries.reserve(keys.size());
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (values[i]) {
          entries.emplace_back(std::move(keys[i]),
                               timed_->make_entry(std::move(*values[i]), ttl, us));
        }
      }
      if (!entries.empty()) call("set_many", [&] { timed_->set_many_timed(std::move(entries)); });
      return;
    }
    std::vector<Write<K, V>> writes;
    writes.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (values[i]) writes.push_back({std::move(keys[i]), std::move(*values[i]), ttl});
    }
    if (!writes.empty()) call("set_many", [&] { backend_->set_many(std::move(writes)); });
  }

  template <class BatchLoader>
  std::vector<std::optional<V>> load_many(const std::vector<K>& keys, BatchLoader& batch_loader,
                                          std::chrono::milliseconds ttl) {
    if (ttl.count() <= 0) {
      detail::throw_bad_ttl(backend_->name(), static_cast<long long>(ttl.count()));
    }
    std::vector<std::optional<V>> out;
    std::vector<std::optional<Timed<V>>> stale;
    read_many(keys, out, options_.loading.fail_safe ? &stale : nullptr);
    std::unordered_map<K, std::vector<std::size_t>> where;
    std::vector<K> missing;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (stats_) out[i] ? stats_->record_hit() : stats_->record_miss();
      if (out[i]) continue;
      auto [it, inserted] = where.try_emplace(keys[i]);
      if (inserted) missing.push_back(keys[i]);
      it->second.push_back(i);
    }
    if (missing.empty()) return out;

    const std::int64_t start_ns = stats_ ? stats_->now_ns() : 0;
    const std::int64_t started = clock_us(timed_);
    std::vector<std::optional<V>> loaded;
    try {
      loaded = call_batch_loader(batch_loader, missing);
    } catch (...) {
      if (stats_) {
        stats_->record_load_failure(stats_->now_ns() - start_ns, std::current_exception(), {});
      }
      const bool all_stale =
          !stale.empty() && std::all_of(missing.begin(), missing.end(), [&](const K& k) {
            return stale[where[k].front()].has_value();
          });
      if (!all_stale) throw;
      for (const auto& k : missing) {
        for (const std::size_t i : where[k]) {
          out[i] = stale[i] ? stale[i]->value : stale[where[k].front()]->value;
          if (stats_) stats_->record_stale_served();
        }
      }
      return out;
    }
    const std::int64_t took = clock_us(timed_) - started;
    if (stats_) stats_->record_load(stats_->now_ns() - start_ns);
    for (std::size_t j = 0; j < missing.size(); ++j) {
      if (!loaded[j]) continue;
      for (const std::size_t i : where[missing[j]]) out[i] = loaded[j];
    }
    write_many(std::move(missing), std::move(loaded), ttl, took);
    return out;
  }

  template <class Loader>
  WarmProgress warm_keys(const std::vector<K>& keys, Loader& loader, std::chrono::milliseconds ttl,
                         const WarmOptions& wo) {
    if (ttl.count() <= 0) {
      detail::throw_bad_ttl(backend_->name(), static_cast<long long>(ttl.count()));
    }
    if (wo.batch_size == 0 || wo.concurrency == 0) {
      throw argument_error("ttlcache cache '" + options_.name +
                           "': warm needs batch_size and concurrency above 0");
    }
    const std::size_t batches = (keys.size() + wo.batch_size - 1) / wo.batch_size;
    std::atomic<std::size_t> next{0};
    std::mutex progress_mutex;
    WarmProgress progress;
    progress.total = keys.size();

    auto one_batch = [&](std::size_t b) {
      const auto first = keys.begin() + static_cast<std::ptrdiff_t>(b * wo.batch_size);
      const auto last = keys.begin() +
                        static_cast<std::ptrdiff_t>(std::min(keys.size(), (b + 1) * wo.batch_size));
      std::vector<K> batch(first, last);
      std::size_t failed = 0;
      try {
        std::vector<K> todo;
        if (wo.skip_cached) {
          std::vector<std::optional<V>> found;
          read_many(batch, found, nullptr);
          for (std::size_t i = 0; i < batch.size(); ++i) {
            if (!found[i]) todo.push_back(batch[i]);
          }
        } else {
          todo = batch;
        }
        std::vector<std::optional<V>> values(todo.size());
        const std::int64_t started = clock_us(timed_);
        if constexpr (std::is_invocable_v<Loader&, const K&> || std::is_invocable_v<Loader&>) {
          for (std::size_t i = 0; i < todo.size(); ++i) {
            try {
              values[i] = run_loader(loader, todo[i], nullptr, {});
            } catch (...) {
              ++failed;
            }
          }
        } else {
          try {
            values = call_batch_loader(loader, todo);
          } catch (...) {
            failed = todo.size();
            values.assign(todo.size(), std::nullopt);
          }
        }
        const std::int64_t took = clock_us(timed_) - started;
        const std::int64_t per_key =
            todo.empty() ? 0 : took / static_cast<std::int64_t>(todo.size());
        const std::size_t loaded_count = static_cast<std::size_t>(std::count_if(
            values.begin(), values.end(), [](const auto& v) { return v.has_value(); }));
        try {
          write_many(std::move(todo), std::move(values), ttl, per_key);
        } catch (const error&) {
          failed += loaded_count;
        }
      } catch (...) {  // the lookup failed: the whole batch is lost
        failed = batch.size();
      }
      std::lock_guard<std::mutex> lock(progress_mutex);
      progress.done += batch.size();
      progress.failed += failed;
      if (wo.on_progress) {
        try {
          wo.on_progress(progress);
        } catch (...) {  // a throwing callback must not end the warming threads
        }
      }
    };
    auto worker = [&] {
      for (std::size_t b = next++; b < batches; b = next++) one_batch(b);
    };
    const std::size_t threads = std::min(wo.concurrency, batches);
    std::vector<std::thread> pool;
    pool.reserve(threads > 0 ? threads - 1 : 0);
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
    if (threads > 0) worker();
    for (auto& t : pool) t.join();
    return progress;
  }

  // Requires stats_.
  void record_read(bool hit, ContentTypeCounters* ct) noexcept {
    if (ct) {
      hit ? stats_->record_hit(*ct) : stats_->record_miss(*ct);
    } else {
      hit ? stats_->record_hit() : stats_->record_miss();
    }
  }

  template <class Loader>
  V run_loader(Loader& loader, const K& key, ContentTypeCounters* ct,
               std::string_view content_type) {
    if (!stats_) return invoke_loader(loader, key);
    const std::int64_t start = stats_->now_ns();
    try {
      V value = invoke_loader(loader, key);
      stats_->record_load(stats_->now_ns() - start, ct);
      return value;
    } catch (...) {
      stats_->record_load_failure(stats_->now_ns() - start, std::current_exception(), content_type,
                                  ct);
      throw;
    }
  }

  // Times a backend call when asked to (see BackendTiming); the destructor records, so a call
  // that throws is timed too.
  class BackendTimer {
   public:
    explicit BackendTimer(StatsRecorder* recorder) noexcept
        : recorder_(recorder), start_(recorder ? recorder->now_ns() : 0) {}
    ~BackendTimer() {
      if (recorder_) recorder_->record_backend_call(recorder_->now_ns() - start_);
    }
    BackendTimer(const BackendTimer&) = delete;
    BackendTimer& operator=(const BackendTimer&) = delete;

   private:
    StatsRecorder* recorder_;
    std::int64_t start_;
  };

  // Every backend call goes through here: backend errors are counted and reported (then
  // rethrown unchanged), and remote calls are timed.
  template <class Fn>
  decltype(auto) call(std::string_view operation, Fn&& fn) {
    if (!stats_) return fn();
    try {
      BackendTimer timer(time_backend_ ? stats_.get() : nullptr);
      return fn();
    } catch (const backend_error&) {
      stats_->record_backend_error(backend_->name(), operation, std::current_exception());
      throw;
    }
  }

  void init_loading() {
    timed_ = dynamic_cast<TimedCapable<K, V>*>(backend_.get());
    bg_ = std::make_shared<Background>();
    bg_->backend = backend_;
    bg_->timed = timed_;
    bg_->tags = dynamic_cast<TagCapable<K, V>*>(backend_.get());
    bg_->stats = stats_;
    const LoadOptions& lo = options_.loading;
    if (lo.fail_safe) bg_->fail_safe_ttl = lo.fail_safe_ttl;
    const std::string who = "ttlcache cache '" + options_.name + "': ";
    if ((lo.early_refresh || lo.refresh_ahead_at > 0 || lo.fail_safe ||
         lo.stale_while_revalidate.count() > 0) &&
        !timed_) {
      throw argument_error(who +
                           "early_refresh, refresh_ahead_at, stale_while_revalidate and fail_safe "
                           "need a backend that keeps entry times (make_fail_safe_memory_backend, "
                           "redis::make_fail_safe_backend or a FailSafeBackend); the '" +
                           std::string(backend_->name()) + "' backend given is not one");
    }
    if (!(lo.early_refresh_beta > 0)) throw argument_error(who + "early_refresh_beta must be > 0");
    if (!(lo.refresh_ahead_at >= 0 && lo.refresh_ahead_at < 1)) {
      throw argument_error(who + "refresh_ahead_at must be in [0, 1)");
    }
    if (lo.fail_safe_ttl.count() <= 0) throw argument_error(who + "fail_safe_ttl must be > 0");
    if (lo.stale_while_revalidate.count() < 0) {
      throw argument_error(who + "stale_while_revalidate must not be negative");
    }
    if (lo.soft_timeout.count() < 0 || lo.hard_timeout.count() < 0) {
      throw argument_error(who + "soft_timeout and hard_timeout must not be negative");
    }
    if (lo.soft_timeout.count() > 0 && lo.hard_timeout.count() > 0 &&
        lo.hard_timeout <= lo.soft_timeout) {
      throw argument_error(who + "hard_timeout must be longer than soft_timeout");
    }
    if (lo.lock_lease.count() <= 0 || lo.lock_poll.count() <= 0 || lo.lock_wait.count() < 0) {
      throw argument_error(who + "lock_lease and lock_poll must be > 0, lock_wait >= 0");
    }
    if (lo.background_threads == 0) throw argument_error(who + "background_threads must be > 0");
  }

  [[noreturn]] void no_policy() const {
    throw argument_error("ttlcache cache '" + options_.name +
                         "': a content type was given but the cache has no TTL policy");
  }

  void init_stats() {
    source_ = dynamic_cast<const StatsSource*>(backend_.get());
    if (!options_.stats.enabled) return;
    stats_ = std::make_shared<StatsRecorder>(options_.name, options_.stats, options_.listeners);
    BackendStats b;
    if (source_) source_->collect_stats(b);
    switch (options_.stats.time_backend_calls) {
      case BackendTiming::always:
        time_backend_ = true;
        break;
      case BackendTiming::never:
        time_backend_ = false;
        break;
      case BackendTiming::automatic:
        time_backend_ = !b.in_process;
        break;
    }
  }

  static std::shared_ptr<backend_type> make_memory_backend(MemoryOptions<K, V> memory,
                                                           const CacheOptions& options) {
    if (options.listeners.on_removal) {
      memory.removal_listener = [typed = std::move(memory.removal_listener),
                                 untyped = options.listeners.on_removal, name = options.name](
                                    const K& key, const V& value, RemovalCause cause) {
        if (typed) {
          try {
            typed(key, value, cause);
          } catch (...) {  // one listener's failure must not keep the other from being told
          }
        }
        const std::string text = detail::key_text(key);
        detail::notify(untyped, RemovalEvent{name, cause, text});
      };
    }
    return std::make_shared<MemoryBackend<K, V>>(std::move(memory));
  }
  static CacheOptions with_stats_clock(CacheOptions options, const MemoryOptions<K, V>& memory) {
    if (!options.stats.clock) options.stats.clock = memory.clock;
    return options;
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
  detail::SingleFlight<K, LoadResult<V>> flights_;
  // Statistics (null when off); source_ is the backend's StatsSource side, if it has one.
  std::shared_ptr<StatsRecorder> stats_;
  const StatsSource* source_ = nullptr;
  bool time_backend_ = false;
  // Loading: the backend's entry-time side (null unless fail-safe capable), the state shared
  // with background loads, and the cache's own workers (last: joined first on destruction).
  TimedCapable<K, V>* timed_ = nullptr;
  std::shared_ptr<Background> bg_;
  std::once_flag pool_once_;
  std::unique_ptr<detail::WorkerPool> pool_;
};

}  // namespace ttlcache

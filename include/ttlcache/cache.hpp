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
#include "ttlcache/backend_stats.hpp"
#include "ttlcache/context.hpp"
#include "ttlcache/detail/single_flight.hpp"
#include "ttlcache/errors.hpp"
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
    init_stats();
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
    auto& tagged = detail::tag_support(*backend_);
    const auto ms = detail::to_ttl(ttl);
    if (auto hit = call("get", [&] { return backend_->get(key); })) {
      if (stats_) record_read(true, nullptr);
      return std::move(*hit);
    }
    if (stats_) record_read(false, nullptr);
    return flights_.run(key, [&]() -> V {
      if (auto hit = call("get", [&] { return backend_->get(key); })) return std::move(*hit);
      auto stamps = tagged.stamps_for(tags, ms);
      V value = run_loader(loader, key, nullptr, {});
      tagged.set_stamped(key, value, ms, std::move(stamps));
      return value;
    });
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
    return load_through(
        key, std::forward<Loader>(loader), [&] { return policy_ttl(content_type, context); },
        stats_ ? &stats_->content_type(content_type) : nullptr, content_type);
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

  template <class Loader, class TtlFn>
  V load_through(const K& key, Loader&& loader, TtlFn&& ttl_fn, ContentTypeCounters* ct = nullptr,
                 std::string_view content_type = {}) {
    if (auto hit = call("get", [&] { return backend_->get(key); })) {
      if (stats_) record_read(true, ct);
      return std::move(*hit);
    }
    if (stats_) record_read(false, ct);
    return flights_.run(key, [&]() -> V {
      // A load for this key may have finished between our miss and our turn as leader.
      if (auto hit = call("get", [&] { return backend_->get(key); })) return std::move(*hit);
      V value = run_loader(loader, key, ct, content_type);
      call("set", [&] { backend_->set(key, value, ttl_fn()); });
      return value;
    });
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
  detail::SingleFlight<K, V> flights_;
  // Statistics (null when off); source_ is the backend's StatsSource side, if it has one.
  std::shared_ptr<StatsRecorder> stats_;
  const StatsSource* source_ = nullptr;
  bool time_backend_ = false;
};

}  // namespace ttlcache

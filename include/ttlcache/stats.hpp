// Cache statistics: options, event listeners, the snapshot struct, and the recorder behind them.
// It is over 600 lines because the recorder and the snapshot types it fills are one unit.
// SPDX-License-Identifier: MIT
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "ttlcache/backend_stats.hpp"
#include "ttlcache/clock.hpp"
#include "ttlcache/detail/hit_window.hpp"
#include "ttlcache/detail/key_text.hpp"
#include "ttlcache/detail/label_registry.hpp"
#include "ttlcache/detail/striped_counters.hpp"
#include "ttlcache/removal.hpp"

namespace ttlcache {

/// How an entry (or a group of entries) was invalidated on purpose.
enum class InvalidationKind {
  key,      ///< erase(key)
  tag,      ///< every entry carrying a tag
  version,  ///< a namespace version bump (old entries become unreachable)
  pattern,  ///< every key matching a pattern or prefix
  remote,   ///< a message from another process (e.g. Redis pub/sub)
};
inline constexpr std::size_t invalidation_kind_count = 5;

constexpr std::string_view to_string(InvalidationKind kind) noexcept {
  switch (kind) {
    case InvalidationKind::key:
      return "key";
    case InvalidationKind::tag:
      return "tag";
    case InvalidationKind::version:
      return "version";
    case InvalidationKind::pattern:
      return "pattern";
    case InvalidationKind::remote:
      return "remote";
  }
  return "unknown";
}

/// A circuit breaker's state (exported as 0, 1, 2).
enum class BreakerState { closed = 0, open = 1, half_open = 2 };

constexpr std::string_view to_string(BreakerState state) noexcept {
  switch (state) {
    case BreakerState::closed:
      return "closed";
    case BreakerState::open:
      return "open";
    case BreakerState::half_open:
      return "half_open";
  }
  return "unknown";
}

// ---- events ----

/// An entry left the cache. `key` is the key as text when it is a string or a number, else "".
struct RemovalEvent {
  std::string_view cache;
  RemovalCause cause;
  std::string_view key;
};
/// Entries were invalidated on purpose. `target` is the key, tag, pattern or namespace.
struct InvalidationEvent {
  std::string_view cache;
  InvalidationKind kind;
  std::string_view target;
  std::uint64_t count;  ///< entries affected, when known (else 1)
};
/// A loader threw; every caller waiting on that load receives the exception.
struct LoadFailureEvent {
  std::string_view cache;
  std::string_view content_type;  ///< "" when the load had none
  std::string_view message;       ///< what() of the exception, or "unknown exception"
  std::exception_ptr error;
  std::chrono::nanoseconds duration;
};
/// A backend call threw a backend_error (connection_error, timeout_error, an error reply).
struct BackendErrorEvent {
  std::string_view cache;
  std::string_view backend;    ///< the backend's name(): "memory", "redis", "tiered"
  std::string_view operation;  ///< "get", "set", "erase", "get_many", "set_many", "contains" ...
  std::string_view message;
  std::exception_ptr error;
};
/// A circuit breaker changed state.
struct BreakerStateEvent {
  std::string_view cache;
  std::string_view tier;
  BreakerState from;
  BreakerState to;
};

/// Callbacks for things an operator wants logged, e.g. through the service's own logger.
///
/// Each runs on the thread whose operation caused the event, after the cache's internal locks
/// are released, so it may call back into the cache. Exceptions a listener throws are caught and
/// dropped: a failing logger must not fail a cache read. Keep them short; they run inline.
/// The string_views in an event are valid only during the call.
struct CacheListeners {
  /// Removals from a cache built with MemoryOptions (the typed MemoryOptions::removal_listener
  /// still works and is called first). Installing this makes the backend collect removals.
  std::function<void(const RemovalEvent&)> on_removal;
  std::function<void(const InvalidationEvent&)> on_invalidation;
  std::function<void(const LoadFailureEvent&)> on_load_failure;
  std::function<void(const BackendErrorEvent&)> on_backend_error;
  std::function<void(const BreakerStateEvent&)> on_breaker_change;
};

// ---- options ----

/// Which backend calls Cache times for the backend latency histogram. Timing costs two clock
/// reads per call, about as much as an in-process get, so by default only remote calls pay it.
enum class BackendTiming {
  automatic,  ///< time calls to backends that are not in-process (Redis, tiered)
  always,
  never,
};

/// Settings of a cache's statistics.
struct StatsOptions {
  /// false: record nothing (Cache::stats() then reports only the backend's own figures).
  bool enabled = true;
  BackendTiming time_backend_calls = BackendTiming::automatic;
  /// The time window of CacheStats::window.
  std::chrono::nanoseconds window = std::chrono::seconds(60);
  /// The operation count of CacheStats::recent (the last N reads).
  std::uint64_t window_operations = 10'000;
  /// Source of time for latencies and the window; null means the MemoryOptions clock for a cache
  /// built from MemoryOptions, else the real steady clock.
  std::shared_ptr<const Clock> clock;
  /// Reports the bytes a remote store uses, read on every snapshot (e.g. Redis `used_memory`;
  /// see used_memory_of). Exceptions it throws leave CacheStats::remote_used_memory empty.
  std::function<std::uint64_t()> used_memory;
  /// Distinct content types (and tiers) tracked separately; the rest count as "other".
  std::size_t max_labels = 64;
};

/// A used_memory probe from any object with a used_memory() member, e.g. redis::RedisStore.
template <class Store>
std::function<std::uint64_t()> used_memory_of(std::shared_ptr<Store> store) {
  return [store = std::move(store)] { return static_cast<std::uint64_t>(store->used_memory()); };
}

// ---- the snapshot ----

/// A latency histogram: fixed log-scale buckets (powers of two nanoseconds, 128 ns to 34 s,
/// then overflow) with the derived percentiles.
struct HistogramStats {
  static constexpr std::size_t bucket_count = detail::LatencyBuckets::count;
  /// Per-bucket counts (not cumulative); the last bucket is everything above the last bound.
  std::array<std::uint64_t, bucket_count> buckets{};
  std::uint64_t count = 0;
  std::uint64_t sum_ns = 0;
  double p50_ns = 0;
  double p90_ns = 0;
  double p99_ns = 0;

  /// Upper bound of bucket i in nanoseconds (inclusive); the last bucket has none.
  static constexpr std::uint64_t upper_bound_ns(std::size_t i) noexcept {
    return detail::LatencyBuckets::upper_bound_ns(i);
  }
  /// Estimated q-quantile (0 < q <= 1) in nanoseconds: the bucket holding it, interpolated
  /// linearly inside it. 0 when empty. The overflow bucket reports its lower bound.
  double percentile(double q) const noexcept {
    if (count == 0) return 0;
    const double rank = q * static_cast<double>(count);
    std::uint64_t below = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      const std::uint64_t here = buckets[i];
      if (here != 0 && static_cast<double>(below + here) >= rank) {
        const double lo = static_cast<double>(detail::LatencyBuckets::lower_bound_ns(i));
        if (i + 1 == bucket_count) return lo;
        const double hi = static_cast<double>(upper_bound_ns(i));
        const double into = (rank - static_cast<double>(below)) / static_cast<double>(here);
        return lo + (hi - lo) * (into < 0 ? 0 : into);
      }
      below += here;
    }
    return static_cast<double>(detail::LatencyBuckets::lower_bound_ns(bucket_count - 1));
  }
  double mean_ns() const noexcept {
    return count == 0 ? 0 : static_cast<double>(sum_ns) / static_cast<double>(count);
  }
};

/// Hits and misses over a recent stretch (see StatsOptions::window, window_operations).
struct WindowStats {
  std::chrono::nanoseconds span{0};  ///< the stretch actually covered
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  /// hits / (hits + misses); 0 when there were no reads.
  double hit_rate() const noexcept {
    const std::uint64_t n = hits + misses;
    return n == 0 ? 0 : static_cast<double>(hits) / static_cast<double>(n);
  }
};

/// Counters of the reads and loads that named a content type (Cache's content-type overloads).
struct ContentTypeStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t loads = 0;
  std::uint64_t load_failures = 0;
  std::uint64_t stale_served = 0;
  std::uint64_t sets = 0;
  HistogramStats load_latency;
  double hit_rate() const noexcept {
    const std::uint64_t n = hits + misses;
    return n == 0 ? 0 : static_cast<double>(hits) / static_cast<double>(n);
  }
};

/// Counters of one tier of a tiered cache (recorded by the tiered backend).
struct TierStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t errors = 0;
  std::uint64_t breaker_transitions = 0;
  /// The last state recorded; empty when the tier has no breaker.
  std::optional<BreakerState> breaker;
  double hit_rate() const noexcept {
    const std::uint64_t n = hits + misses;
    return n == 0 ? 0 : static_cast<double>(hits) / static_cast<double>(n);
  }
};

/// What an adaptive TTL policy has learned about one key group of a content type
/// (AdaptiveTtlStats::groups).
struct AdaptiveTtlGroupStats {
  double factor = 1.0;                           ///< the multiplier the group's TTLs get
  std::chrono::milliseconds change_interval{0};  ///< estimated interval between unseen changes
  std::uint64_t unseen_changes = 0;              ///< reloads that found a changed value
  std::uint64_t told_changes = 0;                ///< writes and invalidations through the cache
  std::uint64_t reads = 0;
};

/// What an adaptive TTL policy has learned about one content type (TtlPolicy::adaptive_stats,
/// see AdaptiveTtl in dynamic_ttl.hpp).
struct AdaptiveTtlStats {
  double factor = 1.0;                           ///< the multiplier applied to the table's TTL
  std::chrono::milliseconds change_interval{0};  ///< estimated interval between unseen changes
  std::uint64_t unseen_changes = 0;              ///< reloads that found a changed value
  std::uint64_t told_changes = 0;                ///< writes and invalidations through the cache
  std::uint64_t reads = 0;
  /// Key groups with an estimate of their own (CacheBuilder::ttl_group), by name: at most
  /// AdaptiveTtl::max_groups over all types.
  std::map<std::string, AdaptiveTtlGroupStats, std::less<>> groups;
  /// Observations of groups beyond that bound (they use the type's factor).
  std::uint64_t untracked_group_observations = 0;
};

/// A point-in-time copy of a cache's statistics: a plain struct, safe to keep and copy.
/// Counters are monotonic since the cache was built; each is exact, but they are read one after
/// the other, so two counters may be a few operations apart under load.
struct CacheStats {
  std::string cache;    ///< CacheOptions::name
  std::string backend;  ///< the backend's name()
  bool enabled = true;  ///< false: recording is off, only backend figures are filled in

  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t loads = 0;          ///< loader calls that returned a value
  std::uint64_t load_failures = 0;  ///< loader calls that threw
  std::uint64_t stale_served = 0;   ///< stale values served in place of a failed load
  std::uint64_t backend_errors = 0;
  std::uint64_t corrupt_values = 0;  ///< undecodable values read as misses (remote backends)
  std::size_t loads_in_flight = 0;

  /// Removals by RemovalCause (expired, evicted, erased, replaced), counted by the backend;
  /// empty when the backend cannot count them (Redis).
  std::optional<std::array<std::uint64_t, removal_cause_count>> removals;
  /// Invalidations by InvalidationKind.
  std::array<std::uint64_t, invalidation_kind_count> invalidations{};

  WindowStats window;  ///< the last StatsOptions::window of time
  WindowStats recent;  ///< the last StatsOptions::window_operations reads

  std::optional<std::uint64_t> entries;             ///< entries held in process
  std::optional<std::uint64_t> weight_bytes;        ///< sum of weights in process
  std::optional<std::uint64_t> remote_used_memory;  ///< e.g. Redis used_memory

  HistogramStats load_latency;
  HistogramStats backend_latency;  ///< timed calls only (see BackendTiming)

  std::map<std::string, ContentTypeStats, std::less<>> content_types;
  std::map<std::string, TierStats, std::less<>> tiers;
  /// By content type, only when the cache's TtlPolicy adapts (TtlPolicy::adaptive_stats()).
  std::map<std::string, AdaptiveTtlStats, std::less<>> adaptive_ttl;

  /// hits / (hits + misses) since the start; 0 when there were no reads.
  double hit_rate() const noexcept {
    const std::uint64_t n = hits + misses;
    return n == 0 ? 0 : static_cast<double>(hits) / static_cast<double>(n);
  }
  std::uint64_t removed(RemovalCause cause) const noexcept {
    return removals ? (*removals)[static_cast<std::size_t>(cause)] : 0;
  }
  std::uint64_t evictions() const noexcept { return removed(RemovalCause::evicted); }
  std::uint64_t expirations() const noexcept { return removed(RemovalCause::expired); }
  std::uint64_t invalidated(InvalidationKind kind) const noexcept {
    return invalidations[static_cast<std::size_t>(kind)];
  }
};

namespace detail {

/// Calls a listener, containing whatever it throws.
template <class Fn, class Event>
void notify(const Fn& fn, const Event& event) noexcept {
  if (!fn) return;
  try {
    fn(event);
  } catch (...) {  // a listener's failure must not break the operation that raised the event
  }
}

inline std::string_view exception_message(const std::exception_ptr& error) noexcept {
  try {
    if (error) std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
  }
  return "unknown exception";
}

}  // namespace detail

/// Records a cache's statistics and raises its events. Cache owns one (shared, so that a tiered
/// backend, a fail-safe layer or an invalidation bus can hold it too and call the record_*
/// hooks); reach it with Cache::stats_recorder().
///
/// Cost: a counter update is one relaxed fetch_add on a cache line the calling thread shares
/// only with threads of the same stripe (see detail::StripedCounters); no locks, no clock reads.
/// Latency recording reads the clock twice per timed call.
///
/// Thread-safety: every member may be called concurrently. Exceptions: snapshot() may throw
/// std::bad_alloc; record_* hooks do not throw (listener exceptions are contained).
class StatsRecorder {
 public:
  /// A per-label group of counters (content type or tier); see content_type() and tier().
  class ContentTypeCounters {
   public:
    explicit ContentTypeCounters(std::uint32_t stripes) : counters_(stripes), latency_(stripes) {}

   private:
    friend class StatsRecorder;
    enum Index : std::size_t { hits, misses, loads, load_failures, stale_served, sets, count };
    detail::StripedCounters<count> counters_;
    detail::LatencyHistogram latency_;
  };
  class TierCounters {
   public:
    explicit TierCounters(std::uint32_t stripes) : counters_(stripes) {}

   private:
    friend class StatsRecorder;
    enum Index : std::size_t { hits, misses, errors, transitions, count };
    detail::StripedCounters<count> counters_;
    // -1: no state recorded yet.
    std::atomic<int> state_{-1};
  };

  StatsRecorder(std::string cache_name, StatsOptions options, CacheListeners listeners = {})
      : name_(std::move(cache_name)),
        options_(std::move(options)),
        listeners_(std::move(listeners)),
        stripes_(detail::default_stat_stripes()),
        counters_(stripes_),
        load_latency_(stripes_),
        backend_latency_(stripes_),
        window_(now_ns(), window_spacing(options_), window_capacity),
        content_types_(options_.max_labels),
        tiers_(options_.max_labels) {}

  StatsRecorder(const StatsRecorder&) = delete;
  StatsRecorder& operator=(const StatsRecorder&) = delete;

  const std::string& cache_name() const noexcept { return name_; }
  const StatsOptions& options() const noexcept { return options_; }
  const CacheListeners& listeners() const noexcept { return listeners_; }

  /// Now on the recorder's clock, in nanoseconds (for timing a call: now_ns() before and after).
  std::int64_t now_ns() const noexcept {
    const auto t = options_.clock ? options_.clock->now() : std::chrono::steady_clock::now();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }

  /// The counters of a content type, for the *_for hooks (created on first use; the reference
  /// stays valid for the recorder's lifetime).
  ContentTypeCounters& content_type(std::string_view name) {
    return content_types_.find_or_add(name, stripes_);
  }
  /// The counters of a tier (created on first use).
  TierCounters& tier(std::string_view name) { return tiers_.find_or_add(name, stripes_); }

  // ---- hot path ----

  void record_hit() noexcept { maybe_sample(counters_.add(hits)); }
  void record_miss() noexcept { maybe_sample(counters_.add(misses)); }
  void record_hit(ContentTypeCounters& ct) noexcept {
    record_hit();
    ct.counters_.add(ContentTypeCounters::hits);
  }
  void record_miss(ContentTypeCounters& ct) noexcept {
    record_miss();
    ct.counters_.add(ContentTypeCounters::misses);
  }
  void record_set(ContentTypeCounters& ct) noexcept { ct.counters_.add(ContentTypeCounters::sets); }

  /// A loader returned a value after `ns`.
  void record_load(std::int64_t ns, ContentTypeCounters* ct = nullptr) noexcept {
    counters_.add(loads);
    load_latency_.record(clamp_ns(ns));
    if (ct) {
      ct->counters_.add(ContentTypeCounters::loads);
      ct->latency_.record(clamp_ns(ns));
    }
  }
  /// A loader threw after `ns`; raises on_load_failure.
  void record_load_failure(std::int64_t ns, const std::exception_ptr& error,
                           std::string_view content_type = {},
                           ContentTypeCounters* ct = nullptr) noexcept {
    counters_.add(load_failures);
    load_latency_.record(clamp_ns(ns));
    if (ct) {
      ct->counters_.add(ContentTypeCounters::load_failures);
      ct->latency_.record(clamp_ns(ns));
    }
    if (listeners_.on_load_failure) {
      detail::notify(listeners_.on_load_failure,
                     LoadFailureEvent{name_, content_type, detail::exception_message(error), error,
                                      std::chrono::nanoseconds(ns)});
    }
  }
  /// A backend call took `ns` (only calls the cache chose to time).
  void record_backend_call(std::int64_t ns) noexcept { backend_latency_.record(clamp_ns(ns)); }

  // ---- hooks for other layers ----

  /// A stale value was served in place of a failed or slow load (Cache's fail-safe: see
  /// LoadOptions::fail_safe and soft_timeout).
  void record_stale_served(ContentTypeCounters* ct = nullptr) noexcept {
    counters_.add(stale_served);
    if (ct) ct->counters_.add(ContentTypeCounters::stale_served);
  }
  /// One invalidation request (counted once, whatever `count` is); raises on_invalidation with
  /// `count`, the entries affected when known. Called by Cache::erase (key), Cache's tag,
  /// version and pattern calls, and the remote invalidation path.
  void record_invalidation(InvalidationKind kind, std::string_view target = {},
                           std::uint64_t count = 1) noexcept {
    counters_.add(invalidation_base + static_cast<std::size_t>(kind));
    if (listeners_.on_invalidation) {
      detail::notify(listeners_.on_invalidation, InvalidationEvent{name_, kind, target, count});
    }
  }
  /// A backend call failed with `error`; raises on_backend_error.
  void record_backend_error(std::string_view backend, std::string_view operation,
                            const std::exception_ptr& error) noexcept {
    counters_.add(backend_errors);
    if (listeners_.on_backend_error) {
      detail::notify(
          listeners_.on_backend_error,
          BackendErrorEvent{name_, backend, operation, detail::exception_message(error), error});
    }
  }
  /// A read answered by (hit) or passed through (miss) one tier of a tiered backend.
  void record_tier_hit(TierCounters& t) noexcept { t.counters_.add(TierCounters::hits); }
  void record_tier_miss(TierCounters& t) noexcept { t.counters_.add(TierCounters::misses); }
  void record_tier_error(TierCounters& t) noexcept { t.counters_.add(TierCounters::errors); }
  void record_tier_hit(std::string_view tier_name) { record_tier_hit(tier(tier_name)); }
  void record_tier_miss(std::string_view tier_name) { record_tier_miss(tier(tier_name)); }
  void record_tier_error(std::string_view tier_name) { record_tier_error(tier(tier_name)); }

  /// A circuit breaker (of a tier; "" for the cache's own) is now in `state`. A change of state
  /// is counted and raises on_breaker_change; recording the same state again does nothing.
  void record_breaker_state(std::string_view tier_name, BreakerState state) {
    TierCounters& t = tier(tier_name);
    const int before = t.state_.exchange(static_cast<int>(state), std::memory_order_acq_rel);
    // Breakers start closed: a first report of "closed" is no transition, of "open" is one.
    const BreakerState from = before < 0 ? BreakerState::closed : static_cast<BreakerState>(before);
    if (from == state) return;
    t.counters_.add(TierCounters::transitions);
    if (listeners_.on_breaker_change) {
      detail::notify(listeners_.on_breaker_change,
                     BreakerStateEvent{name_, tier_name, from, state});
    }
  }

  /// Raises on_removal (the Cache forwards the backend's removals here when asked to).
  void notify_removal(RemovalCause cause, std::string_view key) const noexcept {
    detail::notify(listeners_.on_removal, RemovalEvent{name_, cause, key});
  }

  // ---- reading ----

  /// Fills in the recorder's part of a snapshot (counters, window, histograms, labels) and takes
  /// a window sample.
  void snapshot_into(CacheStats& out) const {
    const auto c = counters_.sum_all();
    out.cache = name_;
    out.enabled = true;
    out.hits = c[hits];
    out.misses = c[misses];
    out.loads = c[loads];
    out.load_failures = c[load_failures];
    out.stale_served = c[stale_served];
    out.backend_errors = c[backend_errors];
    for (std::size_t k = 0; k < invalidation_kind_count; ++k) {
      out.invalidations[k] = c[invalidation_base + k];
    }
    const detail::HitSample now{now_ns(), c[hits], c[misses]};
    window_.sample(now);
    out.window = to_window(window_.over_time(now, options_.window.count()));
    out.recent = to_window(window_.over_operations(now, options_.window_operations));
    out.load_latency = to_histogram(load_latency_.read());
    out.backend_latency = to_histogram(backend_latency_.read());
    content_types_.for_each([&](const std::string& name, const ContentTypeCounters& ct) {
      const auto v = ct.counters_.sum_all();
      ContentTypeStats s;
      s.hits = v[ContentTypeCounters::hits];
      s.misses = v[ContentTypeCounters::misses];
      s.loads = v[ContentTypeCounters::loads];
      s.load_failures = v[ContentTypeCounters::load_failures];
      s.stale_served = v[ContentTypeCounters::stale_served];
      s.sets = v[ContentTypeCounters::sets];
      s.load_latency = to_histogram(ct.latency_.read());
      out.content_types[name] = s;
    });
    tiers_.for_each([&](const std::string& name, const TierCounters& t) {
      const auto v = t.counters_.sum_all();
      TierStats s;
      s.hits = v[TierCounters::hits];
      s.misses = v[TierCounters::misses];
      s.errors = v[TierCounters::errors];
      s.breaker_transitions = v[TierCounters::transitions];
      const int state = t.state_.load(std::memory_order_acquire);
      if (state >= 0) s.breaker = static_cast<BreakerState>(state);
      out.tiers[name] = s;
    });
    if (options_.used_memory) {
      try {
        out.remote_used_memory = options_.used_memory();
      } catch (...) {  // a store that cannot be reached has no figure; the snapshot still works
      }
    }
  }

 private:
  enum Index : std::size_t {
    hits,
    misses,
    loads,
    load_failures,
    stale_served,
    backend_errors,
    invalidation_base,
    counter_count = invalidation_base + invalidation_kind_count,
  };
  // Each stripe samples the window every this many reads.
  static constexpr std::uint64_t sample_every = 256;
  static constexpr std::size_t window_slots = 16;
  static constexpr std::size_t window_capacity = 4 * window_slots;

  static std::int64_t window_spacing(const StatsOptions& o) noexcept {
    return static_cast<std::int64_t>(o.window.count()) / static_cast<std::int64_t>(window_slots);
  }
  static std::uint64_t clamp_ns(std::int64_t ns) noexcept {
    return ns < 0 ? 0 : static_cast<std::uint64_t>(ns);
  }

  void maybe_sample(std::uint64_t previous) noexcept {
    if ((previous % sample_every) != sample_every - 1) return;
    sample_now();
  }
  void sample_now() noexcept {
    try {
      window_.try_sample(detail::HitSample{now_ns(), counters_.sum(hits), counters_.sum(misses)});
    } catch (...) {  // std::mutex::try_lock does not throw in practice; the window may skip one
    }
  }

  static WindowStats to_window(const detail::HitDelta& d) {
    WindowStats w;
    w.span = std::chrono::nanoseconds(d.span_ns);
    w.hits = d.hits;
    w.misses = d.misses;
    return w;
  }
  static HistogramStats to_histogram(
      const std::array<std::uint64_t, detail::LatencyBuckets::count + 1>& cells) {
    HistogramStats h;
    for (std::size_t i = 0; i < HistogramStats::bucket_count; ++i) {
      h.buckets[i] = cells[i];
      h.count += cells[i];
    }
    h.sum_ns = cells[detail::LatencyHistogram::sum_index];
    h.p50_ns = h.percentile(0.50);
    h.p90_ns = h.percentile(0.90);
    h.p99_ns = h.percentile(0.99);
    return h;
  }

  const std::string name_;
  const StatsOptions options_;
  const CacheListeners listeners_;
  const std::uint32_t stripes_;
  detail::StripedCounters<counter_count> counters_;
  detail::LatencyHistogram load_latency_;
  detail::LatencyHistogram backend_latency_;
  mutable detail::HitWindow window_;
  detail::LabelRegistry<ContentTypeCounters> content_types_;
  detail::LabelRegistry<TierCounters> tiers_;
};

}  // namespace ttlcache

// The state a cache's background loads share with it: where values are stored, the loads
// running per key, and the one place a value or a stale copy is written back.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ttlcache/backend.hpp"
#include "ttlcache/deadline.hpp"
#include "ttlcache/detail/background.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/fail_safe.hpp"
#include "ttlcache/stats.hpp"
#include "ttlcache/tags.hpp"
#include "ttlcache/ttl_policy.hpp"
#include "ttlcache/value_equal.hpp"

namespace ttlcache::detail {

/// Shared (by shared_ptr) between a LoadEngine and its background tasks, so that a task
/// outliving a call (or, with a user executor, the Cache) never touches the engine itself.
/// Thread-safety: running is guarded by mutex; the rest is set once before any task starts.
template <class K, class V>
struct LoadShared {
  using TtlFn = std::function<std::chrono::milliseconds()>;
  using LoaderFn = std::function<V()>;
  using ContentTypeCounters = StatsRecorder::ContentTypeCounters;

  std::shared_ptr<Backend<K, V>> backend;
  TimedCapable<K, V>* timed = nullptr;  // owned by backend; null unless it keeps entry times
  TagCapable<K, V>* tags = nullptr;     // owned by backend; null when not tag-aware
  std::shared_ptr<StatsRecorder> stats;
  std::chrono::milliseconds fail_safe_ttl{0};  // how long a restored stale copy stands in
  std::mutex mutex;
  std::unordered_map<K, std::shared_ptr<PendingLoad<V>>> running;

  // Write generations, one per stripe of keys. set/erase/set_many note a write before they
  // reach the backend; a load reads its key's generation before its loader reads the source,
  // and stores only if no write was noted since, checking again after the store and removing
  // its copy if one was (a write that raced the store). Without it a load that read the source
  // before an edit could store its older value over the edit's write-through, to live until
  // its TTL. A miss is safe; an older value over a newer write is not. Stripes, not keys: a
  // write to another key of the stripe only costs a load its store.
  static constexpr std::size_t write_stripes = 1024;
  std::array<std::atomic<std::uint64_t>, write_stripes> write_generations{};

  std::atomic<std::uint64_t>& write_slot(const K& key) noexcept {
    return write_generations[std::hash<K>{}(key) % write_stripes];
  }
  std::uint64_t writes_seen(const K& key) noexcept {
    return write_slot(key).load(std::memory_order_acquire);
  }
  void note_write(const K& key) noexcept {
    write_slot(key).fetch_add(1, std::memory_order_acq_rel);
  }
  // Invalidations (tags, versions, prefixes, patterns, clear) may reach any key: one counter
  // for all, noted before they reach the backend.
  std::atomic<std::uint64_t> invalidations{0};
  void note_invalidation() noexcept { invalidations.fetch_add(1, std::memory_order_acq_rel); }
  /// What a call has seen of writes that may reach key (only grows): single-flight does not
  /// let a caller join a load that began before a write the caller must see.
  std::uint64_t write_epoch(const K& key) noexcept {
    return writes_seen(key) + invalidations.load(std::memory_order_acquire);
  }
  /// Stores a loaded value unless a write to its key began after `seen` was read (then the
  /// stored copy, if any, is removed again). False when nothing (or nothing lasting) was stored.
  bool store_loaded(const K& key, const V& value, std::chrono::milliseconds ttl,
                    std::int64_t took_us, const std::optional<std::vector<Stamp>>& stamps,
                    std::uint64_t seen) {
    if (writes_seen(key) != seen) return false;
    store(key, value, ttl, took_us, stamps);
    if (writes_seen(key) == seen) return true;
    backend->erase(key);
    return false;
  }

  // Adaptive TTL (issue 18): a reload that replaces a copy it has at hand (a refresh, or a
  // reload over a stale copy) tells the policy whether the data changed behind the cache's
  // back. equal is empty when V has no operator== and none was given: nothing is reported.
  std::shared_ptr<const TtlPolicy> policy;
  ValueEqual<V> equal;

  /// Whether reloads of content_type are compared now: only while the policy adapts, so a
  /// cache whose policy does not learn keeps no copies and compares nothing.
  bool compares_reloads(std::string_view content_type) const noexcept {
    return equal && policy && !content_type.empty() && timed && policy->adapts();
  }
  /// Reports reload_changed or reload_unchanged for loaded replacing previous, with the age
  /// previous had (from its entry times). A throwing comparison reports nothing.
  void report_reload(std::string_view content_type, std::string_view group,
                     const Timed<V>& previous, const V& loaded) const noexcept {
    try {
      TtlObservation o;
      o.kind = equal(previous.value, loaded) ? TtlObservation::Kind::reload_unchanged
                                             : TtlObservation::Kind::reload_changed;
      o.content_type = content_type;
      o.group = group;
      // At least 1 ms: 0 would mean "age unknown" to the policy.
      o.age = std::chrono::milliseconds(
          std::max<std::int64_t>(timed->now_ms() - previous.written_ms, 1));
      policy->observe(o);
    } catch (...) {  // the user's equality threw: this reload goes unreported
    }
  }

  std::int64_t clock_us() const noexcept {
    if (timed) return timed->now_us();
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  /// Stores a loaded value: with its entry times when the backend keeps them, under stamps
  /// when it was loaded for tags.
  void store(const K& key, const V& value, std::chrono::milliseconds ttl, std::int64_t took_us,
             const std::optional<std::vector<Stamp>>& stamps) {
    if (timed) {
      const auto us =
          std::clamp<std::int64_t>(took_us, 0, std::numeric_limits<std::uint32_t>::max());
      auto entry = timed->make_entry(value, ttl, static_cast<std::uint32_t>(us));
      if (stamps) {
        timed->set_timed_stamped(key, std::move(entry), *stamps);
      } else {
        timed->set_timed(key, std::move(entry));
      }
    } else if (stamps && tags) {
      tags->set_stamped(key, value, ttl, *stamps);
    } else {
      backend->set(key, value, ttl);
    }
  }

  /// The one place a stale copy is stored again: marked as a fail-safe copy, fresh for
  /// fail_safe_ttl (never past its stale_until), so the failing source is retried after that,
  /// not on every read. With tags it goes under the versions read for this load: it came from
  /// a stamp-checked read, so none of its tags was invalidated since. Serving matters more
  /// than remembering: a failure here is counted, never thrown.
  void restore_stale(const K& key, Timed<V> copy,
                     const std::optional<std::vector<Stamp>>& stamps) noexcept {
    try {
      const std::int64_t now = timed->now_ms();
      copy.fail_safe = true;
      copy.fresh_until_ms = std::min(now + fail_safe_ttl.count(), copy.stale_until_ms);
      if (copy.fresh_until_ms <= now) return;
      if (stamps) {
        timed->set_timed_stamped(key, std::move(copy), *stamps);
      } else {
        timed->set_timed(key, std::move(copy));
      }
    } catch (const backend_error&) {
      report_store_error();
    } catch (...) {
    }
  }

  /// A background load: runs fn, stores its value (a failed store is counted; the waiters
  /// still get the value) and compares it with previous (the copy it replaces, when the
  /// reload has one: see report_reload), or on failure restores previous when
  /// restore_on_failure (stale-while-revalidate under fail-safe) and hands the error to the
  /// waiters.
  void run(const K& key, LoaderFn& fn, const TtlFn& ttl_fn, ContentTypeCounters* ct,
           const std::string& content_type, const std::string& group,
           std::chrono::milliseconds deadline, const std::shared_ptr<PendingLoad<V>>& pending,
           const std::optional<std::vector<Stamp>>& stamps, std::optional<Timed<V>>& previous,
           bool restore_on_failure) {
    const std::int64_t start_ns = stats ? stats->now_ns() : 0;
    const std::int64_t started = clock_us();
    const std::uint64_t seen = writes_seen(key);
    try {
      V value = fn();
      const std::int64_t took = clock_us() - started;
      if (stats) stats->record_load(stats->now_ns() - start_ns, ct);
      bool raced = false;  // a write began during the load: its change is a told one
      try {
        DeadlineScope scope(deadline);
        raced = !store_loaded(key, value, ttl_fn(), took, stamps, seen);
      } catch (const backend_error&) {
        report_store_error();
      } catch (...) {  // the callers still get the value
      }
      if (!raced && previous && compares_reloads(content_type)) {
        report_reload(content_type, group, *previous, value);
      }
      pending->succeed(std::move(value));
    } catch (...) {
      if (stats) {
        stats->record_load_failure(stats->now_ns() - start_ns, std::current_exception(),
                                   content_type, ct);
      }
      if (restore_on_failure && previous && timed) {
        DeadlineScope scope(deadline);
        restore_stale(key, std::move(*previous), stamps);
      }
      pending->fail(std::current_exception());
    }
    std::lock_guard<std::mutex> lock(mutex);
    const auto it = running.find(key);
    if (it != running.end() && it->second == pending) running.erase(it);
  }

 private:
  void report_store_error() noexcept {
    if (stats) stats->record_backend_error(backend->name(), "set", std::current_exception());
  }
};

}  // namespace ttlcache::detail

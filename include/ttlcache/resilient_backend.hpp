// ResilientBackend: a failure policy (propagate or degrade) and a circuit breaker around a backend.
// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ttlcache/backend.hpp"
#include "ttlcache/backend_stats.hpp"
#include "ttlcache/circuit_breaker.hpp"
#include "ttlcache/clock.hpp"
#include "ttlcache/deadline.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/stats.hpp"
#include "ttlcache/tags.hpp"

namespace ttlcache {

/// What a ResilientBackend does with a backend_error.
enum class FailurePolicy {
  propagate,  ///< rethrow it (and, while the breaker is open, throw breaker_open_error)
  degrade,    ///< reads become misses, writes are dropped and counted; nothing is thrown
};

/// Settings of a ResilientBackend.
struct ResilientOptions {
  FailurePolicy policy = FailurePolicy::degrade;
  BreakerOptions breaker;
  /// Remember the keys whose set/erase failed (or was refused by the breaker) and erase them
  /// from the backend before it is trusted again, so that a value the source of truth has
  /// since replaced does not come back after the outage. Turn off only in a layer above one
  /// that does it (see docs/resilience.md, tiered recipe).
  bool repair_failed_writes = true;
  /// At most this many remembered keys; one more and the repair clears the whole cache (its
  /// namespace, on Redis) instead, as it does after a failed clear or tag invalidation.
  std::size_t max_failed_keys = 10'000;
  /// Statistics label of this breaker (a tier name such as "l2"; "" for the cache's own).
  std::string tier;
  /// Per-call deadline (0 = none): each call of this layer, with its repair pass and every
  /// round trip below it (connect, pool wait, socket reads and writes), runs inside one
  /// DeadlineScope of this budget (deadline.hpp), so a stalled server costs a caller at most
  /// this long, and the call then fails with timeout_error (a failure for the breaker).
  /// An outer scope with an earlier deadline still wins.
  std::chrono::milliseconds call_budget{0};
  /// Clock of the breaker's cool-down; null means the steady clock.
  std::shared_ptr<const Clock> clock;
  /// Called on every breaker transition (after the statistics are told).
  std::function<void(BreakerState, BreakerState)> on_breaker_change;
};

/// Counters of a ResilientBackend. Monotonic, except pending_keys, pending_clear and breaker.
struct ResilientStats {
  std::uint64_t failures = 0;       ///< backend_errors thrown by the wrapped backend
  std::uint64_t rejected = 0;       ///< calls not made because the breaker was open
  std::uint64_t degraded = 0;       ///< errors turned into a miss or a dropped write
  std::uint64_t failed_writes = 0;  ///< set/erase/clear/invalidations that failed or were refused
  std::uint64_t repairs = 0;        ///< successful repair passes (each up to 33 keys, or a clear)
  std::uint64_t repaired_keys = 0;  ///< keys erased by repair passes
  std::uint64_t repair_clears = 0;  ///< repair passes that cleared the whole cache
  std::size_t pending_keys = 0;     ///< keys waiting for the next repair
  bool pending_clear = false;       ///< the next repair clears the whole cache
  BreakerState breaker = BreakerState::closed;
};

namespace detail {
// Kept out of the templates' hot path: builds and throws the fail-fast error.
[[noreturn]] inline void throw_breaker_open(std::string_view backend, std::string_view operation,
                                            std::string_view key, std::uint32_t threshold,
                                            std::chrono::milliseconds retry_in) {
  std::string message = "ttlcache ";
  message.append(backend).append(" backend: ").append(operation);
  if (!key.empty()) message.append(" of key ").append(printable_key(key));
  message.append(" not attempted: circuit breaker open after ")
      .append(std::to_string(threshold))
      .append(" consecutive failures; ")
      .append(retry_in.count() > 0 ? "next probe in " + std::to_string(retry_in.count()) + " ms"
                                   : std::string("a probe is under way"));
  throw breaker_open_error(std::string(backend), message);
}
}  // namespace detail

/// A Backend<K,V> over any backend, adding a failure policy and a circuit breaker.
///
/// - Failures are backend_errors (connection_error, timeout_error, error replies). Bad input
///   (argument_error, limit_error, codec_error) and everything else pass through untouched and
///   say nothing about the backend's health.
/// - Breaker: see CircuitBreaker. While it is open, calls are not made: propagate throws
///   breaker_open_error (a connection_error naming the backend), degrade answers as for a
///   failure.
/// - degrade: get -> nullopt, get_many -> all nullopt, contains -> false, ttl -> nullopt,
///   size -> 0, erase -> false; set/set_many/clear and the tag invalidations are dropped.
///   Each is counted (ResilientStats::degraded) and, with a recorder attached, reported as a
///   backend error (CacheStats::backend_errors, on_backend_error). Under propagate, Cache
///   counts the errors that reach it, so they are not reported here twice.
/// - Repair (both policies): a failed or refused set/erase leaves the backend holding a value
///   the caller meant to replace. Those keys are remembered and erased from the backend before
///   it is used for them again: a call on one key first erases that key (if remembered) and up
///   to 32 others, so the work is spread over the first calls after recovery; a call without a
///   key (batches, size, clear, tag calls) first erases them all. While that fails, the call
///   fails too. Over max_failed_keys, after a failed clear() and after a failed tag invalidation
///   the repair clears the whole cache instead. This protects this process's reads only: other
///   processes sharing the backend may read such a value until this one repairs it.
/// - Statistics: attach_stats() connects a Cache's StatsRecorder: breaker transitions go to
///   record_breaker_state(tier), failures and refusals to record_tier_error(tier) when a tier
///   is named, degraded errors to record_backend_error.
/// - Deadline: with ResilientOptions::call_budget, each call runs inside a DeadlineScope, so
///   its remote waits together take at most that long.
/// - Tags: TagCapable is forwarded to the wrapped backend (argument_error if it has none).
///   stamps_for degrades to stamps that never validate (the entry then reads as a miss),
///   set_stamped as set, invalidations as dropped writes with a clearing repair;
///   version() always propagates (it must return a real version).
///
/// Thread-safety: every member may be called concurrently. A repair holds a mutex; calls that
/// arrive during it wait for it (or fail at once if it fails meanwhile).
template <class K, class V>
class ResilientBackend final : public Backend<K, V>, public TagCapable<K, V>, public StatsSource {
 public:
  /// Throws argument_error for a null backend or bad breaker options.
  explicit ResilientBackend(std::shared_ptr<Backend<K, V>> inner, ResilientOptions options = {})
      : inner_(std::move(inner)), options_(std::move(options)) {
    if (!inner_) throw argument_error("ttlcache: ResilientBackend needs a backend");
    if (options_.call_budget.count() < 0) {
      throw argument_error("ttlcache: ResilientOptions::call_budget must not be negative");
    }
    if (options_.breaker.enabled) {
      breaker_ = std::make_unique<CircuitBreaker>(
          options_.breaker, options_.clock,
          [this](BreakerState from, BreakerState to) { on_breaker_change(from, to); });
    }
  }
  /// Erases the keys of failed writes that are still remembered (best effort, bounded by
  /// call_budget, or 1 s without one): a process that exits before its next call would
  /// otherwise leave those values in a shared Redis for their whole TTL.
  ~ResilientBackend() override {
    if (!options_.repair_failed_writes || !repair_needed_.load(std::memory_order_acquire)) return;
    if (breaker_ && breaker_->state() == BreakerState::open) return;  // known down: no wait
    try {
      const DeadlineScope deadline(options_.call_budget.count() > 0 ? options_.call_budget
                                                                    : std::chrono::seconds(1));
      repair(nullptr);
    } catch (...) {  // the backend is unreachable: nothing more can be done here
    }
  }
  ResilientBackend(const ResilientBackend&) = delete;
  ResilientBackend& operator=(const ResilientBackend&) = delete;

  /// The wrapped backend's name ("redis", "tiered"...), so messages and metrics stay familiar.
  std::string_view name() const noexcept override { return inner_->name(); }

  /// Connects statistics (e.g. `cache.shared_stats_recorder()`) and records the breaker's
  /// current state. May be called again; the last recorder wins.
  void attach_stats(std::shared_ptr<StatsRecorder> recorder) {
    if (!recorder) return;
    StatsRecorder* raw = recorder.get();
    {
      std::lock_guard<std::mutex> lock(recorders_mutex_);
      recorders_.push_back(std::move(recorder));  // kept: another thread may still use it
    }
    recorder_.store(raw, std::memory_order_release);
    if (breaker_) raw->record_breaker_state(options_.tier, breaker_->state());
  }

  /// Called after a repair pass erased keys (`cleared` false) or cleared everything (`cleared`
  /// true), on the thread that ran it. Other instances may have copied the erased values into
  /// their own L1 from this backend before the repair: a tiered cache publishes an
  /// invalidation for them here (CacheBuilder wires it). Set it before the backend is shared;
  /// it must not throw.
  void on_repaired(std::function<void(const std::vector<K>& keys, bool cleared)> listener) {
    repaired_listener_ = std::move(listener);
  }

  // ---- Backend ----

  std::optional<V> get(const K& key) override {
    return guarded<std::optional<V>>(
        "get", &key, [&] { return inner_->get(key); }, [] {}, [] { return std::optional<V>(); });
  }
  void set(const K& key, V value, std::chrono::milliseconds ttl) override {
    guarded<void>(
        "set", &key, [&] { inner_->set(key, std::move(value), ttl); }, [&] { remember(key); },
        [] {});
  }
  bool erase(const K& key) override {
    return guarded<bool>(
        "erase", &key, [&] { return inner_->erase(key); }, [&] { remember(key); },
        [] { return false; });
  }
  bool contains(const K& key) override {
    return guarded<bool>(
        "contains", &key, [&] { return inner_->contains(key); }, [] {}, [] { return false; });
  }
  std::optional<std::chrono::milliseconds> ttl(const K& key) override {
    using R = std::optional<std::chrono::milliseconds>;
    return guarded<R>(
        "ttl", &key, [&] { return inner_->ttl(key); }, [] {}, [] { return R(); });
  }
  std::vector<std::optional<V>> get_many(const std::vector<K>& keys) override {
    using R = std::vector<std::optional<V>>;
    return guarded<R>(
        "get_many", nullptr, [&] { return inner_->get_many(keys); }, [] {},
        [&] { return R(keys.size()); });
  }
  void set_many(std::vector<Write<K, V>> items) override {
    std::vector<K> keys;
    if (options_.repair_failed_writes) {
      keys.reserve(items.size());
      for (const auto& item : items) keys.push_back(item.key);
    }
    guarded<void>(
        "set_many", nullptr, [&] { inner_->set_many(std::move(items)); },
        [&] {
          for (const auto& key : keys) remember(key);
        },
        [] {});
  }
  void clear() override {
    guarded<void>(
        "clear", nullptr, [&] { inner_->clear(); }, [&] { remember_all(); }, [] {});
  }
  std::size_t size() override {
    return guarded<std::size_t>(
        "size", nullptr, [&] { return inner_->size(); }, [] {}, [] { return std::size_t{0}; });
  }

  // ---- TagCapable ----

  std::vector<Stamp> stamps_for(const Tags& tags, std::chrono::milliseconds ttl) override {
    return guarded<std::vector<Stamp>>(
        "stamps_for", nullptr, [&] { return detail::tag_support(*inner_).stamps_for(tags, ttl); },
        [] {},
        [&] {
          // Version 0 is never handed out for a live tag, so the entry reads as a miss.
          std::vector<Stamp> out;
          for (auto& name : tags.stamp_names()) out.push_back(Stamp{std::move(name), 0});
          return out;
        });
  }
  void set_stamped(const K& key, V value, std::chrono::milliseconds ttl,
                   std::vector<Stamp> stamps) override {
    guarded<void>(
        "set", &key,
        [&] {
          detail::tag_support(*inner_).set_stamped(key, std::move(value), ttl, std::move(stamps));
        },
        [&] { remember(key); }, [] {});
  }
  void invalidate_tags(const std::vector<std::string>& tags) override {
    guarded<void>(
        "invalidate_tags", nullptr, [&] { detail::tag_support(*inner_).invalidate_tags(tags); },
        [&] { remember_all(); }, [] {});
  }
  std::uint64_t bump_version(std::string_view entity_type) override {
    return guarded<std::uint64_t>(
        "bump_version", nullptr,
        [&] { return detail::tag_support(*inner_).bump_version(entity_type); },
        [&] { remember_all(); }, [] { return std::uint64_t{0}; });
  }
  std::uint64_t version(std::string_view entity_type) override {
    return guarded<std::uint64_t, false>(
        "version", nullptr, [&] { return detail::tag_support(*inner_).version(entity_type); },
        [] {}, [] { return std::uint64_t{0}; });
  }
  std::size_t invalidate_matching(std::string_view literal_prefix) override {
    return guarded<std::size_t>(
        "invalidate_matching", nullptr,
        [&] { return detail::tag_support(*inner_).invalidate_matching(literal_prefix); },
        [&] { remember_all(); }, [] { return std::size_t{0}; });
  }
  std::size_t invalidate_pattern(const KeyPattern& pattern) override {
    return guarded<std::size_t>(
        "invalidate_pattern", nullptr,
        [&] { return detail::tag_support(*inner_).invalidate_pattern(pattern); },
        [&] { remember_all(); }, [] { return std::size_t{0}; });
  }

  /// Runs `call`, another route to the same server (e.g. its tag versions: GuardedStampStore),
  /// through this layer's breaker, repair pass and deadline, so that one breaker watches
  /// everything that talks to that server. Failures and refusals are always rethrown (the
  /// caller has its own fallback); `invalidation` marks a write whose failure must make the
  /// repair clear the cache.
  template <class R, class Call>
  R call_guarded(std::string_view operation, Call&& call, bool invalidation = false) {
    // No repair pass first: such a call reads no value key (a tag version is not one).
    return guarded<R, false, false>(
        operation, nullptr, call,
        [&] {
          if (invalidation) remember_all();
        },
        [] { return R(); });
  }

  // ---- StatsSource ----

  /// The wrapped backend's figures, as if Cache held it directly.
  void collect_stats(BackendStats& out) const noexcept override {
    if (const auto* source = dynamic_cast<const StatsSource*>(inner_.get())) {
      source->collect_stats(out);
    }
  }

  // ---- introspection ----

  ResilientStats stats() const {
    ResilientStats s;
    s.failures = failures_.load(std::memory_order_relaxed);
    s.rejected = rejected_.load(std::memory_order_relaxed);
    s.degraded = degraded_.load(std::memory_order_relaxed);
    s.failed_writes = failed_writes_.load(std::memory_order_relaxed);
    s.repairs = repairs_.load(std::memory_order_relaxed);
    s.repaired_keys = repaired_keys_.load(std::memory_order_relaxed);
    s.repair_clears = repair_clears_.load(std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      s.pending_keys = pending_.size();
      s.pending_clear = clear_pending_;
    }
    s.breaker = breaker_ ? breaker_->state() : BreakerState::closed;
    return s;
  }
  /// Null when ResilientOptions::breaker.enabled is false.
  const CircuitBreaker* breaker() const noexcept { return breaker_.get(); }
  Backend<K, V>& inner() noexcept { return *inner_; }
  const ResilientOptions& options() const noexcept { return options_; }

 private:
  // Runs call through the breaker and the pending repair. On a backend_error (or a refusal):
  // on_failure() records what the failed call leaves behind, then propagate (or a call that
  // may not degrade) rethrows and degrade returns fallback().
  template <class R, bool MayDegrade = true, bool Repairs = true, class Call, class OnFailure,
            class Fallback>
  R guarded(std::string_view operation, const K* key, Call&& call, OnFailure&& on_failure,
            Fallback&& fallback) {
    CircuitBreaker::Permit permit = breaker_ ? breaker_->acquire() : CircuitBreaker::Permit();
    if (!permit) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      try {
        const std::string text = key ? detail::key_text(*key) : std::string();
        detail::throw_breaker_open(inner_->name(), operation, text,
                                   options_.breaker.failure_threshold, breaker_->retry_in());
      } catch (const breaker_open_error&) {
        return failed<R, MayDegrade>(operation, on_failure, fallback);
      }
    }
    try {
      const DeadlineScope deadline(options_.call_budget);
      if (Repairs && repair_needed_.load(std::memory_order_acquire)) repair(key);
      if constexpr (std::is_void_v<R>) {
        call();
        permit.succeeded();
      } else {
        R result = call();
        permit.succeeded();
        return result;
      }
    } catch (const backend_error&) {
      permit.failed();
      failures_.fetch_add(1, std::memory_order_relaxed);
      return failed<R, MayDegrade>(operation, on_failure, fallback);
    }
  }

  // Called inside a catch block: `throw;` rethrows the error being handled.
  template <class R, bool MayDegrade, class OnFailure, class Fallback>
  R failed(std::string_view operation, OnFailure& on_failure, Fallback& fallback) {
    on_failure();
    StatsRecorder* recorder = recorder_.load(std::memory_order_acquire);
    if (recorder && !options_.tier.empty()) {
      try {
        recorder->record_tier_error(options_.tier);
      } catch (...) {  // statistics must not change the outcome of the call
      }
    }
    if (!MayDegrade || options_.policy == FailurePolicy::propagate) throw;
    degraded_.fetch_add(1, std::memory_order_relaxed);
    if (recorder)
      recorder->record_backend_error(inner_->name(), operation, std::current_exception());
    return fallback();
  }

  void remember(const K& key) {
    failed_writes_.fetch_add(1, std::memory_order_relaxed);
    if (!options_.repair_failed_writes) return;
    std::lock_guard<std::mutex> lock(pending_mutex_);
    if (clear_pending_) {
      // A clear that is already running may have passed this key: clear once more.
      ++clear_generation_;
    } else if (pending_.size() >= options_.max_failed_keys && pending_.count(key) == 0) {
      pending_.clear();
      clear_pending_ = true;
      ++clear_generation_;
    } else {
      pending_[key] = ++sequence_;
    }
    repair_needed_.store(true, std::memory_order_release);
  }
  void remember_all() {
    failed_writes_.fetch_add(1, std::memory_order_relaxed);
    if (!options_.repair_failed_writes) return;
    std::lock_guard<std::mutex> lock(pending_mutex_);
    pending_.clear();
    clear_pending_ = true;
    ++clear_generation_;
    repair_needed_.store(true, std::memory_order_release);
  }

  // At most this many remembered keys are erased by one call (plus its own key): after a long
  // outage thousands of keys wait, and erasing them all in one caller's call (one round trip
  // each; Backend has no batch erase) made the first call after recovery slow enough to miss
  // its deadline and reopen the breaker.
  static constexpr std::size_t repair_chunk = 32;

  // Erases remembered keys (or clears everything) before the backend is used again: a call on
  // one key erases that key (if remembered) and up to repair_chunk others, then goes ahead;
  // a call without a key (batches, size, clear, tags) waits until nothing is remembered.
  // Throws the backend's error when that fails; the caller's call then counts as failed.
  void repair(const K* key) {
    const std::uint64_t failures_seen = repair_failures_.load(std::memory_order_acquire);
    std::unique_lock<std::mutex> repairing(repair_mutex_);
    for (;;) {
      if (!repair_needed_.load(std::memory_order_acquire)) return;
      if (repair_failures_.load(std::memory_order_acquire) != failures_seen) {
        // Another caller's repair failed while we waited: do not hammer the backend in a row.
        throw connection_error(std::string(inner_->name()),
                               "ttlcache " + std::string(inner_->name()) +
                                   " backend: not used until the keys of failed writes are "
                                   "erased, and erasing them just failed");
      }
      std::vector<std::pair<K, std::uint64_t>> batch;
      bool wipe = false;
      bool own_key_pending = false;
      std::uint64_t clear_generation = 0;
      {
        std::lock_guard<std::mutex> lock(pending_mutex_);
        wipe = clear_pending_;
        clear_generation = clear_generation_;
        if (!wipe) {
          if (key != nullptr) {
            auto it = pending_.find(*key);
            own_key_pending = it != pending_.end();
            if (own_key_pending) batch.emplace_back(*it);
          }
          for (const auto& entry : pending_) {
            if (key != nullptr && batch.size() > repair_chunk) break;
            if (key == nullptr || !(entry.first == *key)) batch.emplace_back(entry);
          }
        }
      }
      try {
        if (wipe) {
          inner_->clear();
        } else {
          for (const auto& entry : batch) inner_->erase(entry.first);
        }
      } catch (...) {
        repair_failures_.fetch_add(1, std::memory_order_acq_rel);
        throw;
      }
      repairs_.fetch_add(1, std::memory_order_relaxed);
      if (wipe) {
        repair_clears_.fetch_add(1, std::memory_order_relaxed);
      } else {
        repaired_keys_.fetch_add(batch.size(), std::memory_order_relaxed);
      }
      if (repaired_listener_) {
        std::vector<K> keys;
        keys.reserve(batch.size());
        for (const auto& entry : batch) keys.push_back(entry.first);
        try {
          repaired_listener_(keys, wipe);
        } catch (...) {  // a listener's failure must not fail the caller's call
        }
      }
      {
        std::lock_guard<std::mutex> lock(pending_mutex_);
        // A key that failed again after the snapshot keeps its (newer) entry.
        for (const auto& entry : batch) {
          auto it = pending_.find(entry.first);
          if (it != pending_.end() && it->second == entry.second) pending_.erase(it);
        }
        if (wipe && clear_generation_ == clear_generation) clear_pending_ = false;
        repair_needed_.store(!pending_.empty() || clear_pending_, std::memory_order_release);
      }
      // A call on one key may go ahead once its key is erased (after a wipe, everything is);
      // the other remembered keys wait for the next calls.
      if (key != nullptr && !wipe) return;
    }
  }

  void on_breaker_change(BreakerState from, BreakerState to) {
    if (StatsRecorder* recorder = recorder_.load(std::memory_order_acquire)) {
      try {
        recorder->record_breaker_state(options_.tier, to);
      } catch (...) {  // a failed allocation of the tier's counters loses one event
      }
    }
    if (options_.on_breaker_change) options_.on_breaker_change(from, to);
  }

  std::shared_ptr<Backend<K, V>> inner_;
  const ResilientOptions options_;
  std::function<void(const std::vector<K>&, bool)> repaired_listener_;
  std::unique_ptr<CircuitBreaker> breaker_;

  std::atomic<StatsRecorder*> recorder_{nullptr};
  std::mutex recorders_mutex_;
  std::vector<std::shared_ptr<StatsRecorder>> recorders_;

  std::atomic<bool> repair_needed_{false};
  std::mutex repair_mutex_;
  std::atomic<std::uint64_t> repair_failures_{0};
  mutable std::mutex pending_mutex_;
  std::unordered_map<K, std::uint64_t> pending_;  // key -> sequence of its last failure
  std::uint64_t sequence_ = 0;
  bool clear_pending_ = false;
  std::uint64_t clear_generation_ = 0;

  std::atomic<std::uint64_t> failures_{0}, rejected_{0}, degraded_{0}, failed_writes_{0},
      repairs_{0}, repaired_keys_{0}, repair_clears_{0};
};

/// A StampStore (tag and entity versions) whose calls go through a ResilientBackend's breaker,
/// repair pass and deadline: the versions usually live on the same server as the values (the
/// RedisStore is both), so when the breaker has given up on that server, version reads fail
/// fast too instead of each waiting out the deadline. Failures are rethrown:
/// TieredStampStore answers from its local copies, TaggedBackend's callers degrade. A failed
/// bump_stamps makes the guard's repair clear the cache.
///
/// Thread-safety: as the wrapped store. Exceptions: the wrapped store's, and breaker_open_error.
template <class K, class V>
class GuardedStampStore final : public StampStore {
 public:
  /// Throws argument_error for a null store or guard.
  GuardedStampStore(std::shared_ptr<StampStore> inner,
                    std::shared_ptr<ResilientBackend<K, V>> guard)
      : inner_(std::move(inner)), guard_(std::move(guard)) {
    if (!inner_ || !guard_) {
      throw argument_error("ttlcache: GuardedStampStore needs a stamp store and a guard");
    }
  }
  std::string_view name() const noexcept override { return inner_->name(); }
  std::vector<std::optional<std::uint64_t>> read_stamps(
      const std::vector<std::string>& names) override {
    return guard_->template call_guarded<std::vector<std::optional<std::uint64_t>>>(
        "read_stamps", [&] { return inner_->read_stamps(names); });
  }
  std::vector<std::uint64_t> acquire_stamps(const std::vector<std::string>& names,
                                            std::chrono::milliseconds keep_alive) override {
    return guard_->template call_guarded<std::vector<std::uint64_t>>(
        "acquire_stamps", [&] { return inner_->acquire_stamps(names, keep_alive); });
  }
  std::vector<std::uint64_t> bump_stamps(const std::vector<std::string>& names,
                                         std::chrono::milliseconds keep_alive) override {
    return guard_->template call_guarded<std::vector<std::uint64_t>>(
        "bump_stamps", [&] { return inner_->bump_stamps(names, keep_alive); }, true);
  }

 private:
  std::shared_ptr<StampStore> inner_;
  std::shared_ptr<ResilientBackend<K, V>> guard_;
};

}  // namespace ttlcache

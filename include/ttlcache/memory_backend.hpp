// MemoryBackend: the in-process, sharded, bounded backend with per-entry TTL (the default).
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "ttlcache/backend.hpp"
#include "ttlcache/backend_stats.hpp"
#include "ttlcache/clock.hpp"
#include "ttlcache/detail/hash.hpp"
#include "ttlcache/detail/key_text.hpp"
#include "ttlcache/detail/memory_shard.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/eviction.hpp"
#include "ttlcache/removal.hpp"
#include "ttlcache/tinylfu_policy.hpp"

namespace ttlcache {

/// Settings of a MemoryBackend.
template <class K, class V>
struct MemoryOptions {
  /// Upper bound on entries (exact: the bound is split over the shards without rounding up).
  /// 0 means unbounded, which is rarely what a cache wants.
  std::size_t max_entries = 100'000;
  /// Upper bound on the sum of weights (e.g. bytes); 0 disables it. Needs a weigher.
  std::uint64_t max_weight = 0;
  /// Weight of one entry, computed once per set(). Without one, weights are 0.
  std::function<std::size_t(const K&, const V&)> weigher;
  /// Number of shards, rounded up to a power of two; 0 picks one from the core count (and fewer
  /// for small caches, so that every shard holds a useful number of entries). Use 1 for exact
  /// global LRU order.
  std::uint32_t shards = 0;
  /// Source of time; null means the real clocks (read without a virtual call).
  std::shared_ptr<const Clock> clock;
  /// Told about every removal (expired, evicted, erased, replaced), after the fact.
  RemovalListener<K, V> removal_listener;
  /// If positive, a background thread purges expired entries at this interval. Without it,
  /// expired entries are reclaimed lazily: on read (by the next write to that shard), by a small
  /// sweep on every write, and first when the shard must evict.
  std::chrono::milliseconds cleanup_interval{0};
};

/// The in-process backend: a sharded hash map with per-entry TTL, bounded by entry count and,
/// optionally, by weight, evicting by a pluggable strategy: TinyLfuPolicy by default (a higher
/// hit ratio than LRU on every measured trace and size, docs/eviction.md), LruPolicy for strict
/// least-recently-used order.
///
/// Thread-safety: every member may be called concurrently. Reads (get, visit, contains, ttl)
/// take a shard's shared side, which writes only the reading thread's own cache line (two
/// atomic adds per read), so reads scale across cores; writes (set, erase, clear) take one
/// shard exclusively. get() copies the value out under the shard lock, so a returned value is
/// never torn; visit() runs a function on it in place instead. A miss on a bounded shard whose
/// table has reached its final size (a quarter to half full or more) usually takes no lock: a
/// probe of the table's hashes, validated by a seqlock, shows the key absent (a probe that
/// overlaps a write, or meets an equal hash, falls back to the locked path).
///
/// Expiry on reads: checked only for a found entry, against the coarse monotonic clock unless
/// the entry is within coarse_clock_guard of its expiry (then the precise one), or against the
/// injected clock exactly; never served after its expiry (see coarse_clock_guard).
///
/// Eviction order: reads are logged per thread and applied to the strategy in order, by the
/// next writer of the shard or by the reader that fills its log (beside the other readers: a
/// reader never waits for that replay). With one shard and one thread (and LruPolicy), LRU
/// order is exact; under concurrency a read may be dropped from the log when the log is full
/// and its shard busy (the entry then looks slightly less recent than it is), never a
/// correctness issue: a dropped read loses no entry and serves nothing past its expiry.
///
/// Exceptions: set() throws argument_error for a non-positive TTL and limit_error for an entry
/// heavier than a shard's share of max_weight, before changing anything; otherwise only what K
/// and V's copy/move throw (strong guarantee for the entry concerned).
template <class K, class V, class Policy = TinyLfuPolicy, class Hash = std::hash<K>,
          class KeyEqual = std::equal_to<K>>
class MemoryBackend final : public Backend<K, V>, public StatsSource {
  using Shard = detail::MemoryShard<K, V, Hash, KeyEqual, Policy>;
  using Batch = detail::RemovalBatch<K, V>;

 public:
  explicit MemoryBackend(MemoryOptions<K, V> options = {})
      : clock_(std::move(options.clock)),
        weigher_(std::move(options.weigher)),
        listener_(std::move(options.removal_listener)) {
    if (options.max_weight != 0 && !weigher_) {
      throw argument_error("ttlcache memory backend: max_weight needs a weigher");
    }
    const std::uint32_t count = shard_count(options);
    shard_bits_ = 0;
    while ((1U << shard_bits_) < count) ++shard_bits_;
    const std::uint32_t n = 1U << shard_bits_;
    const std::uint32_t slots = reader_slots();
    shards_.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      detail::ShardLimits limits;
      limits.max_entries = share(options.max_entries, n, i);
      limits.max_weight = share(options.max_weight, n, i);
      if (limits.max_entries == 0 && options.max_entries != 0) {
        throw argument_error("ttlcache memory backend: more shards than max_entries");
      }
      shard_max_weight_ = std::max<std::uint64_t>(shard_max_weight_, limits.max_weight);
      shards_.emplace_back(limits, slots);
    }
    if (options.cleanup_interval.count() > 0) start_cleaner(options.cleanup_interval);
  }

  ~MemoryBackend() override { stop_cleaner(); }
  MemoryBackend(const MemoryBackend&) = delete;
  MemoryBackend& operator=(const MemoryBackend&) = delete;

  std::string_view name() const noexcept override { return "memory"; }

  std::optional<V> get(const K& key) override {
    // Not read(): GCC inlined read_pinned() into it, and the copy's register saves then ran on
    // every miss too; a found entry goes to an out-of-line call (paired miss ratio 1.65 -> 1.54,
    // docs/performance.md, session 13).
    const Sight s = sight(key);
    if (s.seen.absent) return std::nullopt;
    return get_sighted(key, s.hash, *s.shard, s.seen);
  }

  /// Zero-copy read: runs fn(const V&) on key's live value while the entry is pinned (under
  /// the shard's shared side, so no writer can replace or free it meanwhile), and returns true;
  /// returns false, without calling fn, on a miss or an expired entry. It counts as a read for
  /// eviction, like get(). Use it for large values or to extract a part of one (a field, a
  /// size); use get() when the caller keeps the value. fn must be short (it holds off writers
  /// of that shard) and must not write to this backend (set/erase/clear from fn deadlocks);
  /// reads from fn are fine. An exception from fn propagates after the entry is released.
  template <class Fn>
  bool visit(const K& key, Fn&& fn) {
    return read(key, std::forward<Fn>(fn));
  }

  /// Reads check expiry against the kernel's coarse monotonic clock (a few ns instead of
  /// steady_clock's 20-30 ns on a VM), which trails the precise clock by up to one tick (1-10
  /// ms). An entry with less than this much life left by the coarse clock is checked against
  /// the precise clock instead, so with the default clock an entry is never served after its
  /// expiry unless the coarse clock trails by more than this (kernel timekeeping stalled that
  /// long, e.g. a VM descheduled by its host). An injected Clock is always read exactly.
  static constexpr std::chrono::milliseconds coarse_clock_guard{100};

  void set(const K& key, V value, std::chrono::milliseconds ttl) override {
    if (ttl.count() <= 0) detail::throw_bad_ttl("memory", static_cast<long long>(ttl.count()));
    const std::uint32_t weight = weigh(key, value);
    const std::uint64_t h = hash_of(key);
    Shard& shard = shard_for(h);
    const std::int64_t now = now_ns();
    const std::int64_t expires = expiry(now, ttl);
    Batch removed(static_cast<bool>(listener_));
    {
      ExclusiveGuard guard(shard);
      shard.apply_logged_reads(now, removed);
      shard.upsert(key, static_cast<std::uint32_t>(h), std::move(value), now, expires, weight, eq_,
                   removed);
      shard.sweep(now, sweep_budget, removed);
      shard.enforce_limits(now, removed);
    }
    if (removed.enabled()) removed.deliver(listener_);
  }

  bool erase(const K& key) override {
    const std::uint64_t h = hash_of(key);
    Shard& shard = shard_for(h);
    const std::int64_t now = now_ns();
    Batch removed(static_cast<bool>(listener_));
    bool was_live = false;
    {
      ExclusiveGuard guard(shard);
      shard.apply_logged_reads(now, removed);
      const std::uint32_t index = shard.find(key, static_cast<std::uint32_t>(h), eq_);
      if (index != Shard::npos) {
        was_live = shard.node(index).expires_ns > now;
        shard.remove(index, was_live ? RemovalCause::erased : RemovalCause::expired, removed);
      }
    }
    if (removed.enabled()) removed.deliver(listener_);
    return was_live;
  }

  bool contains(const K& key) override { return remaining(key).has_value(); }

  std::optional<std::chrono::milliseconds> ttl(const K& key) override {
    const auto left = remaining(key);
    if (!left) return std::nullopt;
    // Round up: an entry with 0.4 ms left is still there.
    return std::chrono::ceil<std::chrono::milliseconds>(*left);
  }

  void clear() override {
    for (auto& shard : shards_) {
      Batch removed(static_cast<bool>(listener_));
      {
        ExclusiveGuard guard(shard);
        shard.apply_logged_reads(now_ns(), removed);
        shard.remove_all(RemovalCause::erased, removed);
      }
      if (removed.enabled()) removed.deliver(listener_);
    }
  }

  /// Entries held, including expired ones not yet reclaimed (purge_expired() first for an exact
  /// count of live entries).
  std::size_t size() override {
    std::size_t total = 0;
    for (const auto& shard : shards_) total += shard.size();
    return total;
  }

  /// Sum of entry weights (0 without a weigher).
  std::uint64_t weight() const {
    std::uint64_t total = 0;
    for (const auto& shard : shards_) total += shard.weight();
    return total;
  }

  /// Removes every expired entry now (a full pass, one shard at a time).
  void purge_expired() {
    for (auto& shard : shards_) {
      Batch removed(static_cast<bool>(listener_));
      {
        ExclusiveGuard guard(shard);
        const std::int64_t now = now_ns();
        shard.apply_logged_reads(now, removed);
        shard.purge_expired(now, removed);
      }
      if (removed.enabled()) removed.deliver(listener_);
    }
  }

  std::uint32_t shard_count() const noexcept { return static_cast<std::uint32_t>(shards_.size()); }

  /// Removals so far with this cause, over all shards (counted under the shard lock the removal
  /// already holds, so always on).
  std::uint64_t removed(RemovalCause cause) const noexcept {
    std::uint64_t total = 0;
    for (const auto& shard : shards_) total += shard.removed(cause);
    return total;
  }

  void collect_stats(BackendStats& out) const noexcept override {
    out.in_process = true;
    std::uint64_t entries = 0;
    for (const auto& shard : shards_) entries += shard.size();
    out.entries = entries;
    out.weight = weight();
    std::array<std::uint64_t, removal_cause_count> removals{};
    for (std::size_t c = 0; c < removal_cause_count; ++c) {
      removals[c] = removed(static_cast<RemovalCause>(c));
    }
    out.removals = removals;
  }
  static constexpr std::string_view policy_name() noexcept { return Policy::name; }

 private:
  static constexpr std::uint32_t sweep_budget = 2;

  class ExclusiveGuard {
   public:
    explicit ExclusiveGuard(Shard& shard) : shard_(shard) { shard_.lock().lock(); }
    ~ExclusiveGuard() { shard_.lock().unlock(); }
    ExclusiveGuard(const ExclusiveGuard&) = delete;
    ExclusiveGuard& operator=(const ExclusiveGuard&) = delete;

   private:
    Shard& shard_;
  };

  static std::uint32_t shard_count(const MemoryOptions<K, V>& options) {
    if (options.shards != 0) return std::min<std::uint32_t>(options.shards, 1U << 16);
    const std::uint32_t cores = std::max(1U, std::thread::hardware_concurrency());
    std::uint32_t n = std::clamp<std::uint32_t>(4 * cores, 4, 64);
    // Small caches get fewer shards: each shard evicts on its own, and a shard of a handful of
    // entries makes eviction order noticeably worse than one LRU.
    while (n > 1 && options.max_entries != 0 && options.max_entries / n < 64) n /= 2;
    return n;
  }

  static std::uint32_t reader_slots() {
    const std::uint32_t cores = std::max(1U, std::thread::hardware_concurrency());
    return std::clamp<std::uint32_t>(2 * cores, 4, 32);
  }

  template <class T>
  static T share(T total, std::uint32_t n, std::uint32_t i) {
    if (total == 0) return 0;
    return total / n + (i < total % n ? 1 : 0);
  }

  std::uint64_t hash_of(const K& key) const {
    return detail::mix_hash(static_cast<std::uint64_t>(hash_(key)));
  }
  Shard& shard_for(std::uint64_t h) noexcept {
    return shards_[shard_bits_ == 0 ? 0 : (h >> (64 - shard_bits_))];
  }

  std::int64_t now_ns() const noexcept {
    const auto t = clock_ ? clock_->now() : std::chrono::steady_clock::now();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }

  // A read's expiry check, made only for a found entry (a miss reads no clock): the coarse
  // clock where the entry has more than coarse_clock_guard left, else the precise one; an
  // injected clock exactly.
  bool expired_for_read(std::int64_t expires_ns) const noexcept {
    if (clock_) return expires_ns <= now_ns();
    constexpr std::int64_t guard =
        std::chrono::duration_cast<std::chrono::nanoseconds>(coarse_clock_guard).count();
    if (expires_ns - detail::coarse_now_ns() > guard) return false;
    return expires_ns <= now_ns();
  }

  static std::int64_t expiry(std::int64_t now, std::chrono::milliseconds ttl) noexcept {
    constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
    const std::int64_t ms = ttl.count();
    if (ms > (max - now) / 1'000'000) return max;  // saturate: "forever" rather than overflow
    return now + ms * 1'000'000;
  }

  std::uint32_t weigh(const K& key, const V& value) const {
    if (!weigher_) return 0;
    const std::size_t w = weigher_(key, value);
    if (shard_max_weight_ != 0 && w > shard_max_weight_) {
      throw limit_error("ttlcache memory backend: entry '" + detail::key_text(key) + "' weighs " +
                        std::to_string(w) + ", over a shard's share of max_weight (" +
                        std::to_string(shard_max_weight_) + "); it was not stored");
    }
    return static_cast<std::uint32_t>(
        std::min<std::size_t>(w, std::numeric_limits<std::uint32_t>::max()));
  }

  std::optional<std::chrono::nanoseconds> remaining(const K& key) {
    const auto [h, shard_ptr, seen] = sight(key);
    if (seen.absent) return std::nullopt;
    Shard& shard = *shard_ptr;
    const std::int64_t now = now_ns();
    const auto ticket = shard.lock().lock_shared();
    detail::ReadMostlyLock::skip(ticket);  // ttl() and contains() do not count as reads
    const std::uint32_t index = shard.find_seen(key, static_cast<std::uint32_t>(h), eq_, seen);
    std::optional<std::chrono::nanoseconds> out;
    if (index != Shard::npos && shard.node(index).expires_ns > now) {
      out = std::chrono::nanoseconds(shard.node(index).expires_ns - now);
    }
    detail::ReadMostlyLock::unlock_shared(ticket);
    return out;
  }

  // Where every read starts: the key's hash, its shard, and what the lock-free probe saw there
  // (MemoryShard::probe_unlocked). Most misses end here, without a locked operation; a hit
  // starts from the slot the probe saw.
  struct Sight {
    std::uint64_t hash;
    Shard* shard;
    typename Shard::Sighting seen;
  };
  [[gnu::always_inline]] Sight sight(const K& key) {
    const std::uint64_t h = hash_of(key);
    Shard& shard = shard_for(h);
    return {h, &shard, shard.probe_unlocked(static_cast<std::uint32_t>(h))};
  }

  // The read path of visit(): find under the shared side, then (only for a found entry) read
  // the clock, so a miss never pays for one; on_hit(const V&) runs while pinned. Forced inline,
  // so a miss the probe settles costs no call (get() keeps its copy out of line instead).
  template <class OnHit>
  [[gnu::always_inline]] bool read(const K& key, OnHit&& on_hit) {
    const Sight s = sight(key);
    if (s.seen.absent) return false;
    return read_pinned(key, s.hash, *s.shard, s.seen, std::forward<OnHit>(on_hit));
  }

  // get()'s hit: the pinned copy out of line, so its register saves never run on a miss.
  [[gnu::noinline]] std::optional<V> get_sighted(const K& key, std::uint64_t h, Shard& shard,
                                                 typename Shard::Sighting seen) {
    std::optional<V> out;
    read_pinned(key, h, shard, seen, [&out](const V& value) { out.emplace(value); });
    return out;
  }

  template <class OnHit>
  bool read_pinned(const K& key, std::uint64_t h, Shard& shard,
                   const typename Shard::Sighting& seen, OnHit&& on_hit) {
    using Lock = detail::ReadMostlyLock;
    const auto ticket = shard.lock().lock_shared();
    const std::uint32_t index = shard.find_seen(key, static_cast<std::uint32_t>(h), eq_, seen);
    if (index == Shard::npos) {
      Lock::skip(ticket);
      Lock::unlock_shared(ticket);
      return false;
    }
    const auto& node = shard.node(index);
    if (expired_for_read(node.expires_ns)) {
      // Logged so the next writer reclaims it; dropping the log entry when full is harmless.
      Lock::log_access(ticket, index);
      Lock::unlock_shared(ticket);
      return false;
    }
    try {
      on_hit(node.value);
    } catch (...) {
      Lock::skip(ticket);
      Lock::unlock_shared(ticket);
      throw;
    }
    if constexpr (Policy::logs_reads) {
      const bool logged = Lock::log_access(ticket, index);
      Lock::unlock_shared(ticket);
      // This read filled the log (or found it full): replay it now, beside other readers.
      if (ticket.position + 1 >= Lock::log_capacity) {
        replay_own_log(shard, ticket, logged ? nullptr : &key, static_cast<std::uint32_t>(h));
      }
    } else {
      Lock::skip(ticket);
      Policy::on_shared_read(shard.links(index));
      Lock::unlock_shared(ticket);
    }
    return true;
  }

  // The reading thread's log is full: replay it, and `unlogged` (a read that found the log
  // already full), under the replay lock only, so other readers go on meanwhile. If a writer or
  // another replay holds the shard, the reads stay logged for it, and an unlogged read is
  // dropped from the eviction order (lossy by design; never a correctness issue). Reclaiming
  // expired entries is left to writers.
  void replay_own_log(Shard& shard, const detail::ReadMostlyLock::Ticket& ticket, const K* unlogged,
                      std::uint32_t h32) {
    if (!shard.lock().try_lock_replay()) return;
    try {
      // Only to skip expired nodes (a tick late at worst: an extra recency update, harmless).
      const std::int64_t now = clock_ ? now_ns() : detail::coarse_now_ns();
      shard.apply_own_logged_reads(ticket, now);
      if (unlogged != nullptr) {
        const std::uint32_t index = shard.find(*unlogged, h32, eq_);
        if (index != Shard::npos) shard.touch(index);
      }
    } catch (...) {  // a strategy that throws loses this bookkeeping; the read has succeeded
    }
    shard.lock().unlock_replay();
  }

  void start_cleaner(std::chrono::milliseconds interval) {
    cleaner_ = std::thread([this, interval] {
      std::unique_lock<std::mutex> lock(cleaner_mutex_);
      while (!cleaner_stop_) {
        if (cleaner_cv_.wait_for(lock, interval, [this] { return cleaner_stop_; })) break;
        lock.unlock();
        purge_expired();
        lock.lock();
      }
    });
  }
  void stop_cleaner() {
    if (!cleaner_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(cleaner_mutex_);
      cleaner_stop_ = true;
    }
    cleaner_cv_.notify_all();
    cleaner_.join();
  }

  // The shards side by side in one allocation, so shard_for() is one load from here to the
  // shard's fields (a vector of unique_ptr took two, on every read's chain of dependent loads).
  // Shards cannot move (atomics, a lock): built in place, once, and never resized.
  class ShardArray {
   public:
    ShardArray() = default;
    ShardArray(const ShardArray&) = delete;
    ShardArray& operator=(const ShardArray&) = delete;
    ~ShardArray() {
      while (size_ > 0) data_[--size_].~Shard();
      if (data_ != nullptr) ::operator delete (data_, std::align_val_t{alignof(Shard)});
    }
    void reserve(std::size_t n) {  // once, before the n emplace_back calls
      data_ =
          static_cast<Shard*>(::operator new (n * sizeof(Shard), std::align_val_t{alignof(Shard)}));
    }
    template <class... Args>
    void emplace_back(Args&&... args) {  // at most n times (the constructor's loop)
      new (data_ + size_) Shard(std::forward<Args>(args)...);
      ++size_;
    }
    Shard& operator[](std::size_t i) noexcept { return data_[i]; }
    std::size_t size() const noexcept { return size_; }
    Shard* begin() noexcept { return data_; }
    Shard* end() noexcept { return data_ + size_; }
    const Shard* begin() const noexcept { return data_; }
    const Shard* end() const noexcept { return data_ + size_; }

   private:
    Shard* data_ = nullptr;
    std::size_t size_ = 0;
  };
  ShardArray shards_;
  std::uint32_t shard_bits_ = 0;
  std::uint64_t shard_max_weight_ = 0;
  std::shared_ptr<const Clock> clock_;
  std::function<std::size_t(const K&, const V&)> weigher_;
  RemovalListener<K, V> listener_;
  Hash hash_{};
  KeyEqual eq_{};

  std::thread cleaner_;
  std::mutex cleaner_mutex_;
  std::condition_variable cleaner_cv_;
  bool cleaner_stop_ = false;
};

}  // namespace ttlcache

// One shard of the in-process backend: an open-addressing table over a chunked node slab.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "ttlcache/detail/read_mostly_lock.hpp"
#include "ttlcache/removal.hpp"

namespace ttlcache::detail {

/// A removal to report once the shard lock is released.
template <class K, class V>
struct PendingRemoval {
  K key;
  V value;
  RemovalCause cause;
};

/// Collects removals while a shard is locked; the listener runs after the lock is released.
/// Holds nothing (and allocates nothing) when no listener is installed.
template <class K, class V>
class RemovalBatch {
 public:
  explicit RemovalBatch(bool enabled) : enabled_(enabled) {}
  bool enabled() const noexcept { return enabled_; }
  void add(K&& key, V&& value, RemovalCause cause) {
    items_.push_back({std::move(key), std::move(value), cause});
  }
  void deliver(const RemovalListener<K, V>& listener) noexcept {
    for (auto& item : items_) {
      try {
        listener(item.key, item.value, item.cause);
      } catch (...) {  // a listener's failure must not undo or break the cache operation
      }
    }
    items_.clear();
  }

 private:
  bool enabled_;
  std::vector<PendingRemoval<K, V>> items_;
};

/// Limits a shard keeps; set once at construction.
struct ShardLimits {
  std::size_t max_entries = 0;   ///< 0: unbounded
  std::uint64_t max_weight = 0;  ///< 0: unbounded
};

/// A shard: all members except the lock-free readers (find_shared etc.) require the caller to
/// hold lock() exclusively; the *_shared members require lock_shared().
///
/// Layout: nodes live in fixed-size chunks (stable addresses, no 2x vector growth, no malloc
/// header per entry). The table is linear probing in Robin Hood order over 8-byte slots holding
/// 32 bits of hash and the node index + 1, so a probe compares hashes without touching nodes, a
/// miss stops at the first entry closer to its home than the key would be, and deletion shifts
/// entries back instead of leaving tombstones.
template <class K, class V, class Hash, class KeyEqual, class Policy>
class MemoryShard {
 public:
  struct Node {
    K key;
    V value;
    std::int64_t expires_ns;
    std::uint32_t hash;
    std::uint32_t weight;
    typename Policy::Links links;
  };

  static constexpr std::uint32_t npos = 0xffffffffU;

  MemoryShard(ShardLimits limits, std::uint32_t reader_slots)
      : lock_(reader_slots), limits_(limits) {}
  MemoryShard(const MemoryShard&) = delete;
  MemoryShard& operator=(const MemoryShard&) = delete;
  ~MemoryShard() {
    for (std::uint32_t i = 0; i < allocated_; ++i) {
      if (live_[i]) node(i).~Node();
    }
  }

  ReadMostlyLock& lock() noexcept { return lock_; }

  // ---- shared side (readers) ----

  /// Index of key's node, or npos. Requires the shared or exclusive side.
  std::uint32_t find(const K& key, std::uint32_t hash, const KeyEqual& eq) const noexcept {
    if (table_size_ == 0) return npos;
    const Stop stop = walk<std::memory_order_relaxed>(
        table_.get(), table_size_, hash,
        [&](std::uint64_t slot) { return eq(node(index_of(slot)).key, key); });
    return stop.slot != 0 ? index_of(stop.slot) : npos;
  }

  /// What a probe without the lock saw: the key certainly absent, or a slot holding its hash
  /// (slot != 0, at pos), or nothing usable (both unset).
  struct Sighting {
    std::uint64_t slot = 0;
    std::uint32_t pos = 0;
    bool absent = false;
  };

  /// Probes the table's hashes without the lock, so a miss costs no locked operation. Only
  /// once the table has its final size (a bounded shard, a quarter to half full or more): a table
  /// that will not be replaced cannot be freed under the probe. "Absent" is validated by a
  /// seqlock (writers bump table_version_ around slot changes): a probe that overlapped a write
  /// says nothing. A sighted slot needs no validation: find_seen() checks it under the lock.
  [[gnu::always_inline]] Sighting probe_unlocked(std::uint32_t hash) const noexcept {
    Sighting seen;
    // Version, size and array are three independent loads from this object (the CPU makes
    // them at once: no load waits for another before the slot's). The size is read before the
    // array: grow() publishes the array first, so a new size comes with its new array, and an
    // old size with a new array stays in bounds (tables only grow; that probe overlapped the
    // write and is discarded by the version check).
    const std::uint64_t version = table_version_.load(std::memory_order_acquire);
    if ((version & 1U) != 0) return seen;
    const std::size_t size = view_size_.load(std::memory_order_acquire);
    const Slot* const table = table_view_.load(std::memory_order_acquire);
    if (size == 0 || table == nullptr) return seen;
    // Acquire loads (plain loads on x86), so the version's second read below cannot be made
    // before them, and a slot written inside a write shows that write's odd version; a fence
    // would do the same, but ThreadSanitizer does not model fences.
    const Stop stop = walk<std::memory_order_acquire>(table, size, hash,
                                                      [](std::uint64_t /*slot*/) { return true; });
    if (stop.slot != 0) {
      seen.slot = stop.slot;
      seen.pos = static_cast<std::uint32_t>(stop.pos);
    } else if (stop.pos != size) {  // stopped, not given up on a torn view
      seen.absent = table_version_.load(std::memory_order_relaxed) == version;
    }
    return seen;
  }

  /// True if the key of this hash is certainly not in the shard (probe_unlocked()).
  bool certainly_absent(std::uint32_t hash) const noexcept { return probe_unlocked(hash).absent; }

  /// find(), starting from what probe_unlocked() sighted: if that slot still holds the same
  /// entry and its key is key, no second walk. Requires the shared or exclusive side.
  std::uint32_t find_seen(const K& key, std::uint32_t hash, const KeyEqual& eq,
                          const Sighting& seen) const noexcept {
    // (A sighting is only made in a final table, which is never smaller than then: pos is in.)
    if (seen.slot != 0 && slot_at(seen.pos) == seen.slot) {
      const std::uint32_t index = index_of(seen.slot);
      if (eq(node(index).key, key)) return index;
    }
    return find(key, hash, eq);
  }

  Node& node(std::uint32_t index) noexcept {
    return *std::launder(
        reinterpret_cast<Node*>(&chunks_[index >> chunk_bits][index & chunk_mask]));
  }
  const Node& node(std::uint32_t index) const noexcept {
    return *std::launder(
        reinterpret_cast<const Node*>(&chunks_[index >> chunk_bits][index & chunk_mask]));
  }

  std::size_t size() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::uint64_t weight() const noexcept { return weight_.load(std::memory_order_relaxed); }
  /// Removals so far with this cause (replacements included), for statistics.
  std::uint64_t removed(RemovalCause cause) const noexcept {
    return removed_[static_cast<std::size_t>(cause)].load(std::memory_order_relaxed);
  }

  // ---- exclusive side (writers) ----

  /// Replays the reads logged since the last writer. Expired nodes found this way are removed
  /// (lazy expiry: a read that saw an expired entry gets it reclaimed by the next writer).
  void apply_logged_reads(std::int64_t now_ns, RemovalBatch<K, V>& removed) {
    replay(now_ns, &removed, [this](auto&& fn) { lock_.drain_logs(fn); });
  }

  /// Replays the reads logged under ticket's slot. Requires lock().try_lock_replay() only:
  /// readers may be inside, so this changes only the eviction order (expired nodes are left
  /// for the next writer, which removes them when it replays or sweeps).
  void apply_own_logged_reads(const ReadMostlyLock::Ticket& ticket, std::int64_t now_ns) {
    replay(now_ns, nullptr, [&ticket](auto&& fn) { ReadMostlyLock::drain_log(ticket, fn); });
  }

  /// Starts loading a node into the CPU cache (for strategies that prefetch neighbours).
  void prefetch_node(std::uint32_t index) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
    if (index < allocated_) __builtin_prefetch(&chunks_[index >> chunk_bits][index & chunk_mask]);
#else
    (void)index;
#endif
  }

  /// Records a read made by a thread that could not log it (its log was full).
  void touch(std::uint32_t index) { policy_.on_access(*this, index); }

  /// Inserts or replaces. Returns the node index.
  template <class VV>
  std::uint32_t upsert(const K& key, std::uint32_t hash, VV&& value, std::int64_t now_ns,
                       std::int64_t expires_ns, std::uint32_t weight, const KeyEqual& eq,
                       RemovalBatch<K, V>& removed) {
    const std::uint32_t existing = find(key, hash, eq);
    if (existing != npos) {
      Node& n = node(existing);
      const RemovalCause cause =
          n.expires_ns <= now_ns ? RemovalCause::expired : RemovalCause::replaced;
      count_removal(cause);
      // The listener sees the old value; the key stays in place.
      if (removed.enabled()) removed.add(K(n.key), std::move(n.value), cause);
      n.value = std::forward<VV>(value);
      n.expires_ns = expires_ns;
      set_weight(n, weight);
      policy_.on_access(*this, existing);
      return existing;
    }
    const std::uint32_t index = allocate();
    ::new (static_cast<void*>(&chunks_[index >> chunk_bits][index & chunk_mask]))
        Node{key, std::forward<VV>(value), expires_ns, hash, weight, typename Policy::Links{}};
    live_[index] = true;
    table_insert(hash, index);
    count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    weight_.store(weight_.load(std::memory_order_relaxed) + weight, std::memory_order_relaxed);
    policy_.on_insert(*this, index);
    return index;
  }

  /// Evicts until the shard is within its bounds. Expired victims are reported as expired.
  void enforce_limits(std::int64_t now_ns, RemovalBatch<K, V>& removed) {
    while ((limits_.max_entries != 0 && size() > limits_.max_entries) ||
           (limits_.max_weight != 0 && weight() > limits_.max_weight)) {
      const std::uint32_t victim = policy_.victim(*this);
      const RemovalCause cause =
          node(victim).expires_ns <= now_ns ? RemovalCause::expired : RemovalCause::evicted;
      remove(victim, cause, removed);
    }
  }

  /// Looks at up to `budget` slab slots after the sweep cursor and removes expired entries, so
  /// expired entries that nobody reads do not linger while the cache keeps being written.
  void sweep(std::int64_t now_ns, std::uint32_t budget, RemovalBatch<K, V>& removed) {
    if (allocated_ == 0) return;
    for (std::uint32_t i = 0; i < budget; ++i) {
      if (sweep_cursor_ >= allocated_) sweep_cursor_ = 0;
      const std::uint32_t index = sweep_cursor_++;
      if (live_[index] && node(index).expires_ns <= now_ns) {
        remove(index, RemovalCause::expired, removed);
      }
    }
  }

  /// Removes every expired entry (full pass).
  void purge_expired(std::int64_t now_ns, RemovalBatch<K, V>& removed) {
    for (std::uint32_t index = 0; index < allocated_; ++index) {
      if (live_[index] && node(index).expires_ns <= now_ns) {
        remove(index, RemovalCause::expired, removed);
      }
    }
  }

  void remove_all(RemovalCause cause, RemovalBatch<K, V>& removed) {
    for (std::uint32_t index = 0; index < allocated_; ++index) {
      if (live_[index]) remove(index, cause, removed);
    }
  }

  void remove(std::uint32_t index, RemovalCause cause, RemovalBatch<K, V>& removed) {
    Node& n = node(index);
    policy_.on_remove(*this, index);
    table_erase(n.hash, index);
    count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    weight_.store(weight_.load(std::memory_order_relaxed) - n.weight, std::memory_order_relaxed);
    count_removal(cause);
    if (removed.enabled()) removed.add(std::move(n.key), std::move(n.value), cause);
    n.~Node();
    live_[index] = false;
    free_.push_back(index);
  }

  // The strategy's view of the nodes.
  typename Policy::Links& links(std::uint32_t index) noexcept { return node(index).links; }
  /// 32 bits of the key's hash (independent of the shard-selecting bits), for strategies that
  /// count keys, e.g. in a frequency sketch.
  std::uint32_t key_hash(std::uint32_t index) const noexcept { return node(index).hash; }

 private:
  static constexpr std::uint32_t replay_batch = 32;

  // Replays what drain(fn) reports. With `removed`, under the exclusive side: expired nodes are
  // removed. Without, under the replay lock only: they are skipped.
  template <class Drain>
  void replay(std::int64_t now_ns, RemovalBatch<K, V>* removed, Drain&& drain) {
    // In batches: first start loading every logged node (and let the policy start loading
    // what it will touch, e.g. its sketch block), then replay them in order. The cache misses
    // of a batch overlap instead of being paid one after another, read after read.
    std::uint32_t batch[replay_batch];
    std::uint32_t n = 0;
    const auto flush = [&] {
      for (std::uint32_t i = 0; i < n; ++i) prefetch_node(batch[i]);
      if constexpr (has_prefetch_access<Policy>::value) {
        for (std::uint32_t i = 0; i < n; ++i) policy_.prefetch_access(*this, batch[i]);
      }
      for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint32_t index = batch[i];
        // Logged indices are live unless removed earlier in this replay; a check is cheap.
        if (!live_[index]) continue;
        if (node(index).expires_ns > now_ns) {
          policy_.on_access(*this, index);
        } else if (removed != nullptr) {
          remove(index, RemovalCause::expired, *removed);
        }
      }
      n = 0;
    };
    drain([&](std::uint32_t index) {
      if (index >= allocated_) return;  // ReadMostlyLock::unused, or a stale claim
      batch[n++] = index;
      if (n == replay_batch) flush();
    });
    flush();
  }

  // Whether the strategy wants to prefetch before a batch of on_access (optional member).
  template <class P, class = void>
  struct has_prefetch_access : std::false_type {};
  template <class P>
  struct has_prefetch_access<P, std::void_t<decltype(std::declval<P&>().prefetch_access(
                                    std::declval<MemoryShard&>(), std::uint32_t{}))>>
      : std::true_type {};

  static constexpr std::uint32_t chunk_bits = 8;
  static constexpr std::uint32_t chunk_size = 1U << chunk_bits;
  static constexpr std::uint32_t chunk_mask = chunk_size - 1;
  struct alignas(Node) Storage {
    unsigned char bytes[sizeof(Node)];
  };

  std::uint32_t allocate() {
    if (!free_.empty()) {
      const std::uint32_t index = free_.back();
      free_.pop_back();
      return index;
    }
    if ((allocated_ & chunk_mask) == 0) {
      chunks_.push_back(std::make_unique<Storage[]>(chunk_size));
      live_.resize(live_.size() + chunk_size, false);
    }
    return allocated_++;
  }

  // Under the exclusive side, like count_: a plain add, no read-modify-write atomic needed.
  void count_removal(RemovalCause cause) noexcept {
    auto& c = removed_[static_cast<std::size_t>(cause)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  void set_weight(Node& n, std::uint32_t weight) {
    weight_.store(weight_.load(std::memory_order_relaxed) - n.weight + weight,
                  std::memory_order_relaxed);
    n.weight = weight;
  }

  using Slot = std::atomic<std::uint64_t>;

  // Where a walk ended: slot != 0 is a slot holding the hash that match() accepted, at pos;
  // slot == 0 means the key is not in the table, unless pos == size (the walk gave up).
  struct Stop {
    std::size_t pos;
    std::uint64_t slot;
  };

  static std::uint32_t index_of(std::uint64_t slot) noexcept {
    return static_cast<std::uint32_t>(slot) - 1;
  }

  // The Robin Hood walk of find() and probe_unlocked(): from the hash's home to the first slot
  // with the hash that match(slot) accepts, or to where the key cannot be further on: an empty
  // slot, an entry nearer its home than the key would be there, or one from the key's own home
  // with a larger hash (place() keeps a home's entries in hash order): after ~2 probes at 3/4
  // load instead of at the end of the cluster, 8.5 probes on average with plain linear probing.
  // A home is monotonic in the hash, so an entry with a smaller hash never stops the walk
  // (unless its run wrapped past the table's end: then the walk just goes on, to an empty slot
  // or a later stop); only a larger hash pays for the exact distance test.
  // At most size steps, so a view torn by a concurrent writer cannot make it loop. Forced
  // inline: on every read, and GCC otherwise kept a call (+19 instructions per get hit).
  template <std::memory_order Order, class Match>
  [[gnu::always_inline]] static Stop walk(const Slot* slots, std::size_t size, std::uint32_t hash,
                                          Match&& match) {
    std::size_t pos = home_in(hash, size);
    for (std::size_t distance = 0; distance < size; ++distance) {
      const std::uint64_t slot = slots[pos].load(Order);
      if (slot == 0) return {pos, 0};
      const auto slot_hash = static_cast<std::uint32_t>(slot >> 32);
      if (slot_hash == hash) {
        if (match(slot)) return {pos, slot};
      } else if (slot_hash > hash &&
                 cyclic_distance(pos, home_in(slot_hash, size), size) <= distance) {
        return {pos, 0};
      }
      pos = pos + 1 == size ? 0 : pos + 1;
    }
    return {size, 0};
  }

  static std::size_t cyclic_distance(std::size_t pos, std::size_t from, std::size_t size) noexcept {
    return pos >= from ? pos - from : pos + size - from;
  }

  // A hash's first slot: the table need not be a power of two (multiply-shift range reduction
  // of the 32 hash bits), so a bounded shard's table can be sized to its bound.
  std::size_t home(std::uint32_t hash) const noexcept { return home_in(hash, table_size_); }
  static std::size_t home_in(std::uint32_t hash, std::size_t size) noexcept {
    return static_cast<std::size_t>((std::uint64_t{hash} * size) >> 32);
  }
  std::size_t after(std::size_t pos) const noexcept { return pos + 1 == table_size_ ? 0 : pos + 1; }

  // The seqlock of probe_unlocked(): odd while a writer changes slots. Writers are already
  // serialised by the shard lock; this only tells lock-free probes to discard what they saw.
  class TableWrite {
   public:
    explicit TableWrite(std::atomic<std::uint64_t>& version) noexcept
        : version_(version), before_(version.load(std::memory_order_relaxed)) {
      // No fence: slot stores are releases, so a probe that reads one also sees this mark.
      version_.store(before_ + 1, std::memory_order_relaxed);
    }
    ~TableWrite() { version_.store(before_ + 2, std::memory_order_release); }
    TableWrite(const TableWrite&) = delete;
    TableWrite& operator=(const TableWrite&) = delete;

   private:
    std::atomic<std::uint64_t>& version_;
    std::uint64_t before_;
  };

  std::uint64_t slot_at(std::size_t pos) const noexcept {
    return table_[pos].load(std::memory_order_relaxed);
  }
  void set_slot(std::size_t pos, std::uint64_t value) noexcept {
    table_[pos].store(value, std::memory_order_release);
  }

  void table_insert(std::uint32_t hash, std::uint32_t index) {
    const TableWrite write(table_version_);
    // Keep the load factor at or below 3/4: linear probing degrades fast above that.
    if ((size() + 1) * 4 > table_size_ * 3) grow();
    place(hash, index);
  }

  // Robin Hood insertion: an entry further from its home takes the slot of one closer to its
  // own, which continues down the cluster, and of one from the same home with a larger hash.
  // Keeps every cluster ordered by home and each home's entries by hash, so walk() stops a miss
  // early, inside its home's entries (paired miss ratio 1.54 -> 1.42, docs/performance.md,
  // session 13); the backward-shift deletion below preserves that order.
  void place(std::uint32_t hash, std::uint32_t index) {
    std::uint64_t entry = (std::uint64_t{hash} << 32) | (std::uint64_t{index} + 1);
    std::size_t pos = home(hash);
    for (std::size_t distance = 0;; ++distance) {
      const std::uint64_t slot = slot_at(pos);
      if (slot == 0) {
        set_slot(pos, entry);
        return;
      }
      const std::size_t theirs = distance_from_home(pos, static_cast<std::uint32_t>(slot >> 32));
      if (theirs < distance || (theirs == distance && (slot >> 32) > (entry >> 32))) {
        set_slot(pos, entry);
        entry = slot;
        distance = theirs;
      }
      pos = after(pos);
    }
  }

  // How far slot pos lies past the home of an entry with this hash (cyclically).
  std::size_t distance_from_home(std::size_t pos, std::uint32_t hash) const noexcept {
    return cyclic_distance(pos, home(hash), table_size_);
  }

  // Doubles, but never past what max_entries (+1, the insert before an eviction) needs at 3/4
  // load: a bounded shard's table ends at 10.7 bytes per entry instead of up to twice that.
  // A doubling that would reach half of that size goes straight to it: a shard whose count
  // settles between the two (a little under its share of the bound, as most shards of a full
  // cache are) would otherwise keep a table that may still grow, and its misses would all lock.
  // A bounded shard's table, once at the size max_entries needs, is published for
  // probe_unlocked(); it is not replaced after that (the count never passes max_entries + 1),
  // and if it ever were, the old one is kept until the shard dies, as a probe may be in it.
  void grow() {
    const std::size_t old_size = table_size_;
    std::size_t slots = old_size == 0 ? 16 : old_size * 2;
    std::size_t enough = 0;
    if (limits_.max_entries != 0) {
      enough = (limits_.max_entries + 1) * 4 / 3 + 1;
      if (slots * 2 >= enough) slots = enough;
      slots = std::max(slots, old_size + 1);
    }
    while ((size() + 1) * 4 > slots * 3) slots *= 2;  // never full: probes must end
    auto previous = std::make_unique<Slot[]>(slots);  // value-initialised: all zero
    previous.swap(table_);
    table_size_ = slots;
    for (std::size_t pos = 0; pos < old_size; ++pos) {
      const std::uint64_t slot = previous[pos].load(std::memory_order_relaxed);
      if (slot != 0) place(static_cast<std::uint32_t>(slot >> 32), index_of(slot));
    }
    const bool published = table_view_.load(std::memory_order_relaxed) != nullptr;
    if (published) retired_.push_back(std::move(previous));
    if (published || (enough != 0 && slots >= enough)) {
      table_view_.store(table_.get(), std::memory_order_release);  // array first, then its size
      view_size_.store(slots, std::memory_order_release);
    }
  }

  void table_erase(std::uint32_t hash, std::uint32_t index) {
    const TableWrite write(table_version_);
    const std::uint64_t wanted = (std::uint64_t{hash} << 32) | (std::uint64_t{index} + 1);
    std::size_t hole = home(hash);
    while (slot_at(hole) != wanted) hole = after(hole);
    // Backward-shift deletion: pull later entries of the probe run into the hole, so lookups
    // never need tombstones.
    std::size_t next = after(hole);
    while (slot_at(next) != 0) {
      const std::size_t origin = home(static_cast<std::uint32_t>(slot_at(next) >> 32));
      // Move next into the hole unless its home lies cyclically in (hole, next].
      const bool stays =
          hole <= next ? (origin > hole && origin <= next) : (origin > hole || origin <= next);
      if (!stays) {
        set_slot(hole, slot_at(next));
        hole = next;
      }
      next = after(next);
    }
    set_slot(hole, 0);
  }

  // Cache lines by who writes them: readers read lock_'s first line, the table and chunks_
  // (written only by writers); replays, which run beside readers, write policy_ (and the
  // lock's mutex, on its own line). Apart, a replay on one core does not evict what readers
  // on another core read.
  ReadMostlyLock lock_;
  // table_size_ is the writers' copy of the slot count; probe_unlocked() reads view_size_, a
  // load that does not wait for the array's address.
  alignas(64) std::unique_ptr<Slot[]> table_;
  std::size_t table_size_ = 0;
  std::atomic<const Slot*> table_view_{nullptr};  // published for probe_unlocked()
  std::atomic<std::size_t> view_size_{0};         // table_view_'s slot count, stored after it
  std::atomic<std::uint64_t> table_version_{0};   // 64 bits: never wraps under a probe
  std::vector<std::unique_ptr<Slot[]>> retired_;
  std::vector<std::unique_ptr<Storage[]>> chunks_;
  ShardLimits limits_;
  alignas(64) Policy policy_{};
  std::vector<bool> live_;
  std::vector<std::uint32_t> free_;
  std::uint32_t allocated_ = 0;
  std::uint32_t sweep_cursor_ = 0;
  // Written only under the exclusive side; atomics so size() can read them without a lock.
  std::atomic<std::size_t> count_{0};
  std::atomic<std::uint64_t> weight_{0};
  std::atomic<std::uint64_t> removed_[4]{};  // by RemovalCause
};

}  // namespace ttlcache::detail

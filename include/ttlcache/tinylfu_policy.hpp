// W-TinyLFU eviction: an LRU window, a frequency-sketch admission filter and a segmented LRU.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "ttlcache/detail/frequency_sketch.hpp"
#include "ttlcache/detail/index_list.hpp"

namespace ttlcache {

/// Window TinyLFU (Einziger, Friedman & Manes, "TinyLFU: A Highly Efficient Cache Admission
/// Policy", ACM ToS 2017), the design of Caffeine, with Caffeine-style adaptive window sizing.
///
/// New entries enter a small LRU *window*. What falls out of the window is a *candidate* for the
/// main space, a segmented LRU (*probation* and *protected*, 80% of main). When the shard is
/// full, the candidate duels the probation segment's LRU entry: the one a count-min sketch says
/// was accessed more often recently stays, the other is evicted. So a burst of one-off keys
/// (a scan) only churns the window and never displaces the frequently used set, while the
/// window still gives new keys a chance to build up a count.
///
/// The window starts at 1% of the shard and is resized two ways. Per miss, ARC-style ghosts
/// (Megiddo & Modha, FAST'03): the hashes of recently rejected candidates and of recently
/// evicted probation entries are remembered, and a miss on a rejected candidate grows the window
/// (a larger window would have kept it), a miss on an evicted main entry shrinks it, each by
/// half an entry times ARC's ratio of the other side's ghosts to this side's (at least 1; raised
/// to the power 0.9). Per
/// sample of accesses, Caffeine's hill climbing: the window moves one step in the direction that
/// last raised the hit ratio; the step shrinks while the hit ratio is stable and restarts when it
/// shifts. Recency-heavy workloads thus grow the window towards LRU, frequency-heavy ones shrink
/// it; the ghosts react within a few thousand requests, where the climber's samples are too noisy
/// at small sizes to settle.
///
/// Reads are logged and replayed by the next writer (logs_reads = true), exactly like
/// LruPolicy. A replayed read of a resident key is counted in its node (4 bits and the sketch
/// epoch they are counted in, in what was padding) and reaches the sketch four reads at a time,
/// on promotion and when the key leaves; a duel adds what its two keys still hold. So most reads
/// cost an LRU move and no sketch probe (a probe is a likely cache miss: the sketch is 8 bytes
/// per entry), and the estimates are those of adding every read at once, up to the rounding of
/// a halving. A node known saturated (15) skips counting until the next halving. Segment sizes are
/// counted in entries: the shard's entry count when it first has to evict is taken as its capacity,
/// so the policy also works with a weight bound. 12 bytes of Links per entry, 8 bytes of sketch and
/// 0.7 bytes of ghosts per entry of capacity.
///
/// Thread-safety: none of its own; MemoryShard calls it one call at a time, writers excluded
/// (replays of logged reads may run beside readers, which never touch Links or this state).
class TinyLfuPolicy {
 public:
  static constexpr std::string_view name = "tinylfu";
  static constexpr bool logs_reads = true;
  static constexpr std::uint32_t nil = 0xffffffffU;

  struct Links {
    std::uint32_t prev = nil;
    std::uint32_t next = nil;
    std::uint8_t segment = 0;
    // Reads of this resident key not yet added to the sketch (0..15), counted as of sketch
    // epoch `epoch` and halved once per later epoch when next looked at, as the sketch halves
    // its own counts. (Both fit in what was padding: Links stays 12 bytes.)
    std::uint8_t reads = 0;
    std::uint16_t epoch = 0;
  };

  template <class Nodes>
  void on_insert(Nodes& nodes, std::uint32_t node) {
    ++count_;
    if (count_ > sketch_.width()) sketch_.resize(count_);
    const std::uint32_t hash = nodes.key_hash(node);
    sketch_.increment(hash);
    ++sample_misses_;
    if (capacity_ != 0) adapt_to_ghost(hash);
    lists_[window].push_front(nodes, node, window);
    climb();
  }

  template <class Nodes>
  void on_access(Nodes& nodes, std::uint32_t node) {
    // A read of a resident key is counted in its node, which the list move touches anyway, and
    // added to the sketch (1 MB for 100,000 entries: a cache miss per probe) four at a time, on
    // promotion to the protected segment and when the key leaves; a duel counts what is still
    // in the node (estimate()). A node at 15 (the sketch's most) is saturated: its reads change
    // nothing until the next halving.
    Links& l = nodes.links(node);
    const std::uint16_t now = sketch_.epoch();
    std::uint32_t reads = l.epoch == now ? l.reads : aged_reads(l);
    l.epoch = now;
    if (reads < saturated) {
      ++reads;
      sketch_.note_addition();  // may halve: l.epoch is then one behind, as these reads are
      if (reads >= reads_per_add) reads = add_reads(nodes.key_hash(node), reads);
    }
    ++sample_hits_;
    switch (l.segment) {
      case window:
        lists_[window].move_to_front(nodes, node);
        break;
      case probation:
        // A second use while on probation earns the protected segment.
        lists_[probation].unlink(nodes, node);
        lists_[protect].push_front(nodes, node, protect);
        shrink_protected(nodes);
        if (reads < saturated) reads = add_reads(nodes.key_hash(node), reads);
        break;
      default:
        lists_[protect].move_to_front(nodes, node);
        break;
    }
    l.reads = static_cast<std::uint8_t>(reads);
    climb();
  }

  // Called for a batch of reads before their on_access (see MemoryShard::apply_logged_reads):
  // starts loading the sketch block and the list neighbours on_access will touch.
  template <class Nodes>
  void prefetch_access(Nodes& nodes, std::uint32_t node) const noexcept {
    const Links& l = nodes.links(node);
    if (l.segment == probation || l.reads + 1U == reads_per_add) {
      sketch_.prefetch(nodes.key_hash(node));
    }
    if (l.prev != nil) nodes.prefetch_node(l.prev);
    if (l.next != nil) nodes.prefetch_node(l.next);
  }

  template <class Nodes>
  void on_remove(Nodes& nodes, std::uint32_t node) {
    const Links& l = nodes.links(node);
    // The key's reads outlive it in the sketch: if it comes back, they speak for it.
    const std::uint32_t reads = aged_reads(l);
    if (reads != 0 && reads < saturated) sketch_.add(nodes.key_hash(node), reads);
    lists_[l.segment].unlink(nodes, node);
    --count_;
  }

  template <class Nodes>
  std::uint32_t victim(Nodes& nodes) {
    if (capacity_ == 0) {
      // First eviction: the shard is full now, so this is its capacity.
      capacity_ = count_;
      window_max_ = static_cast<double>(capacity_) * initial_window_percent / 100.0;
      step_ = -static_cast<double>(capacity_) * step_percent;
      ghosts_.assign(std::max<std::size_t>(16, capacity_ / ghosts_per_entry), 0);
      resize_targets();
    }
    // Whatever is over the window's size moves to probation; the oldest mover is the candidate.
    std::uint32_t candidate = nil;
    while (lists_[window].size > window_target_) {
      const std::uint32_t moved = lists_[window].tail;
      lists_[window].unlink(nodes, moved);
      lists_[probation].push_front(nodes, moved, probation);
      if (candidate == nil) candidate = moved;
    }
    std::uint32_t evict = lists_[probation].tail;
    if (evict == candidate) evict = lists_[protect].tail;
    if (candidate == nil) {
      if (evict == nil) evict = lists_[protect].tail;
      return evict != nil ? evict : lists_[window].tail;
    }
    if (evict == nil) return candidate;
    const std::uint32_t candidate_hash = nodes.key_hash(candidate);
    const std::uint32_t evict_hash = nodes.key_hash(evict);
    if (admit(estimate(nodes, candidate), estimate(nodes, evict))) {
      remember(evict_hash, from_main);
      return evict;
    }
    remember(candidate_hash, from_window);
    return candidate;
  }

  // Introspection for tests and tuning: the sketch's estimate of a key hash, and a resident
  // node's estimate in a duel (the sketch's plus the reads the node still holds).
  std::size_t window_size() const noexcept { return lists_[window].size; }
  std::size_t window_target() const noexcept { return window_target_; }
  std::uint32_t sketch_frequency(std::uint32_t hash) const noexcept {
    return sketch_.frequency(hash);
  }
  template <class Nodes>
  std::uint32_t frequency(Nodes& nodes, std::uint32_t node) const noexcept {
    return estimate(nodes, node);
  }

 private:
  static constexpr std::uint8_t window = 0;
  static constexpr std::uint8_t probation = 1;
  static constexpr std::uint8_t protect = 2;

  // Caffeine's defaults: a 1% window, an 80% protected share of main, hill-climbing steps of
  // 6.25% of the capacity that decay by 2% per sample and restart on a 5-point hit-ratio shift.
  static constexpr double initial_window_percent = 1.0;
  static constexpr double protected_share = 0.8;
  static constexpr double step_percent = 0.0625;
  static constexpr double step_decay = 0.98;
  static constexpr double restart_threshold = 0.05;
  // Hill-climbing sample: this many accesses per entry of capacity (Caffeine: 10).
  static constexpr std::size_t sample_per_entry = 15;
  // Ghosts: one 4-byte slot per this many entries of capacity, and the window's base move per
  // ghost hit, in entries (scaled by the ghost ratio, adapt_to_ghost). Picked from a sweep on
  // the reference traces and the Zipf churn workload (docs/eviction.md).
  static constexpr std::size_t ghosts_per_entry = 6;
  static constexpr double ghost_step = 0.5;
  // ARC scales a ghost hit's move by the plain ratio; 0.9 keeps orm-busy at 1,000 entries above
  // its previous figure (docs/eviction.md, "Parameter sensitivity").
  static constexpr double ghost_ratio_power = 0.9;
  // The window may grow to this share of the shard, leaving main space for the frequent set.
  static constexpr double max_window_share = 0.9;
  // A candidate at least this warm is admitted now and then even if it loses its duel, so that
  // hash collisions forged by an attacker cannot pin a victim forever (Caffeine does the same).
  static constexpr std::uint32_t warm_candidate = 6;
  // A node's reads go to the sketch this many at a time: a quarter of the sketch probes. (1-8
  // and the other moments to add them were swept on the traces: docs/eviction.md.)
  static constexpr std::uint32_t reads_per_add = 4;
  static constexpr std::uint32_t saturated = 15;

  // A segment's list; the segment is recorded in each node so on_remove finds its list.
  struct List : detail::IndexList {
    template <class Nodes>
    void push_front(Nodes& nodes, std::uint32_t node, std::uint8_t segment) {
      nodes.links(node).segment = segment;
      detail::IndexList::push_front(nodes, node);
    }
  };

  // Ghost slot tags: the key hash with its low bit replaced by the side it left from.
  static constexpr std::uint32_t from_main = 0;
  static constexpr std::uint32_t from_window = 1;

  // A direct-mapped table of tags: a newer ghost overwrites an older one in its slot, which
  // approximates "the last capacity / 4 departures" in 1 byte per entry, without lists.
  std::uint32_t& ghost_slot(std::uint32_t hash) noexcept {
    const std::uint32_t mixed = hash * 0x9e3779b1U;  // 32-bit wrap-around on purpose
    return ghosts_[static_cast<std::size_t>((std::uint64_t{mixed} * ghosts_.size()) >> 32)];
  }

  void remember(std::uint32_t hash, std::uint32_t side) noexcept {
    std::uint32_t tag = (hash & ~1U) | side;
    if (tag == 0) tag = 2;  // 0 marks an empty slot
    std::uint32_t& slot = ghost_slot(hash);
    if (slot != 0) --ghosts_on_[slot & 1U];  // overwritten: forgotten
    ++ghosts_on_[side];
    slot = tag;
  }

  // ARC's rule, damped: a ghost hit moves the window by max(1, other side's ghosts / this
  // side's)^0.9 steps.
  // Where one side's departures are far more common, each of its ghost hits says less. On a
  // frequency-biased workload (Zipf) most departures are rejected candidates: their ghost hits
  // are frequent but each counts little, while the rarer hits on evicted main entries count
  // a lot, so the window shrinks; with equal steps it grew to the 90% cap (issue 19).
  void adapt_to_ghost(std::uint32_t hash) noexcept {
    std::uint32_t& slot = ghost_slot(hash);
    if (slot == 0 || (slot | 1U) != (hash | 1U)) return;
    const std::uint32_t side = slot & 1U;
    const auto mine = static_cast<double>(ghosts_on_[side]);
    const auto other = static_cast<double>(ghosts_on_[side ^ 1U]);
    const double step = other > mine && mine > 0
                            ? ghost_step * std::pow(other / mine, ghost_ratio_power)
                            : ghost_step;
    window_max_ += side == from_window ? step : -step;
    --ghosts_on_[side];
    slot = 0;
    resize_targets();
  }

  // Adds a node's reads to the sketch; what the node keeps: 0, or saturated if the key's
  // estimate is now the most the sketch holds.
  std::uint32_t add_reads(std::uint32_t hash, std::uint32_t reads) noexcept {
    return sketch_.add(hash, reads) == saturated ? saturated : 0;
  }

  // A resident key's reads not yet in the sketch, aged to the sketch's current epoch. A
  // saturated mark stands for counts the sketch holds, which its halving ages: it ages to 0.
  std::uint32_t aged_reads(const Links& l) const noexcept {
    const auto behind = static_cast<std::uint16_t>(sketch_.epoch() - l.epoch);
    if (behind == 0) return l.reads;
    return behind >= 4 || l.reads == saturated ? 0 : static_cast<std::uint32_t>(l.reads) >> behind;
  }

  // What the sketch would say of a resident key had each of its reads been added at once.
  template <class Nodes>
  std::uint32_t estimate(Nodes& nodes, std::uint32_t node) const noexcept {
    const std::uint32_t total =
        sketch_.frequency(nodes.key_hash(node)) + aged_reads(nodes.links(node));
    return total < 15 ? total : 15;
  }

  bool admit(std::uint32_t candidate, std::uint32_t victim) noexcept {
    if (candidate > victim) return true;
    if (candidate < warm_candidate) return false;
    // xorshift32: deterministic, so single-threaded replays give the same hit ratio every run.
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 17;
    rng_ ^= rng_ << 5;
    return (rng_ & 127U) == 0;
  }

  template <class Nodes>
  void shrink_protected(Nodes& nodes) {
    while (lists_[protect].size > protected_target_) {
      const std::uint32_t demoted = lists_[protect].tail;
      lists_[protect].unlink(nodes, demoted);
      lists_[probation].push_front(nodes, demoted, probation);
    }
  }

  void resize_targets() noexcept {
    const double max_window = static_cast<double>(capacity_) * max_window_share;
    if (window_max_ < 1.0) window_max_ = 1.0;
    if (window_max_ > max_window) window_max_ = max_window;
    window_target_ = static_cast<std::size_t>(window_max_);
    const std::size_t main = capacity_ > window_target_ ? capacity_ - window_target_ : 0;
    protected_target_ = static_cast<std::size_t>(static_cast<double>(main) * protected_share);
  }

  // One hill-climbing step per sample (Caffeine's BoundedLocalCache.climb, simplified).
  void climb() noexcept {
    if (capacity_ == 0) return;  // not full yet: nothing to tune
    const std::size_t sampled = sample_hits_ + sample_misses_;
    if (sampled < capacity_ * sample_per_entry) return;
    const double hit_ratio = static_cast<double>(sample_hits_) / static_cast<double>(sampled);
    const double change = hit_ratio - previous_hit_ratio_;
    const double amount = change >= 0 ? step_ : -step_;
    const double magnitude = change < 0 ? -change : change;
    step_ = magnitude >= restart_threshold
                ? (amount >= 0 ? 1.0 : -1.0) * step_percent * static_cast<double>(capacity_)
                : step_decay * amount;
    previous_hit_ratio_ = hit_ratio;
    sample_hits_ = sample_misses_ = 0;
    window_max_ += amount;
    resize_targets();
  }

  List lists_[3];
  detail::FrequencySketch sketch_;
  std::vector<std::uint32_t> ghosts_;
  std::size_t ghosts_on_[2] = {0, 0};  // live ghost slots per side (from_main, from_window)
  std::size_t count_ = 0;
  std::size_t capacity_ = 0;
  double window_max_ = 0;
  std::size_t window_target_ = static_cast<std::size_t>(-1);  // unbounded until the first eviction
  std::size_t protected_target_ = static_cast<std::size_t>(-1);
  double step_ = 0;
  double previous_hit_ratio_ = 0;
  std::size_t sample_hits_ = 0;
  std::size_t sample_misses_ = 0;
  std::uint32_t rng_ = 0x9e3779b9U;
};

}  // namespace ttlcache

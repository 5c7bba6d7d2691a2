// Eviction strategies for the in-process backend: which entry leaves when a shard is full.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <string_view>

#include "ttlcache/detail/index_list.hpp"

namespace ttlcache {

/// The strategy concept, as MemoryBackend uses it. A strategy owns per-node bookkeeping (its
/// Links, stored inside each node) and per-shard state; the shard calls it one call at a time,
/// with writers excluded, so strategies need no locking of their own. Node indices are dense uint32
/// slots.
///
///   struct Strategy {
///     static constexpr std::string_view name;
///     static constexpr bool logs_reads;               // see below
///     struct Links;                                   // per-node data, default-constructible
///     template <class Nodes> void on_insert(Nodes&, std::uint32_t node);
///     template <class Nodes> void on_access(Nodes&, std::uint32_t node);  // read or overwrite
///     template <class Nodes> void on_remove(Nodes&, std::uint32_t node);
///     template <class Nodes> std::uint32_t victim(Nodes&);  // a node to evict; never called empty
///   };
///
/// Nodes::links(node) returns that node's Links&; Nodes::key_hash(node) returns 32 bits of the
/// node's key hash (for strategies that count keys, e.g. TinyLfuPolicy's frequency sketch);
/// Nodes::prefetch_node(node) starts loading a node. Optional member:
/// `template <class Nodes> void prefetch_access(Nodes&, std::uint32_t node) const noexcept`,
/// called for each read of a replayed batch before their on_access, to start loading what
/// on_access will touch, so that the batch's cache misses overlap.
/// victim() may return any live node, including the one just inserted (an admission policy
/// rejecting the newcomer); the shard removes whatever it returns, reports it as evicted (or
/// expired), and asks again while the shard is over its entry or weight bound.
///
/// Reads reach a strategy in one of two ways:
/// - logs_reads = true: reads are logged per thread and reach on_access in batches, in the
///   order they happened per thread (see detail::ReadMostlyLock), so a single-threaded replay
///   sees exact recency order. For strategies that reorder on every read (LRU). Such a replay
///   excludes writers and other replays but may run while readers look up keys and values, so
///   on_access (and prefetch_access) may touch only Links and the strategy's own state.
/// - logs_reads = false: the reader itself calls `static void on_shared_read(Links&) noexcept`
///   under the shared side, concurrently with other readers, so it may only touch atomics in
///   Links (e.g. saturating a small frequency counter). For strategies whose reads only mark
///   (S3-FIFO, SIEVE, CLOCK): no log, no replay, and nothing shared is written.

/// Least recently used: a doubly linked list through the nodes, most recent at the head.
class LruPolicy {
 public:
  static constexpr std::string_view name = "lru";
  static constexpr bool logs_reads = true;
  static constexpr std::uint32_t nil = detail::IndexList::nil;

  struct Links {
    std::uint32_t prev = nil;
    std::uint32_t next = nil;
  };

  template <class Nodes>
  void on_insert(Nodes& nodes, std::uint32_t node) {
    list_.push_front(nodes, node);
  }
  template <class Nodes>
  void on_access(Nodes& nodes, std::uint32_t node) {
    list_.move_to_front(nodes, node);
  }
  // Before a batch of replayed reads: start loading the list neighbours each move touches.
  template <class Nodes>
  void prefetch_access(Nodes& nodes, std::uint32_t node) const noexcept {
    const Links& l = nodes.links(node);
    if (l.prev != nil) nodes.prefetch_node(l.prev);
    if (l.next != nil) nodes.prefetch_node(l.next);
  }
  template <class Nodes>
  void on_remove(Nodes& nodes, std::uint32_t node) {
    list_.unlink(nodes, node);
  }
  template <class Nodes>
  std::uint32_t victim(Nodes& /*nodes*/) const {
    return list_.tail;
  }

 private:
  detail::IndexList list_;
};

}  // namespace ttlcache

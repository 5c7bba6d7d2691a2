// An intrusive doubly linked list of node indices, shared by the eviction strategies.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <cstdint>

namespace ttlcache::detail {

/// Nodes are dense uint32 indices; each node's Links (reached through Nodes::links(node)) hold
/// `prev` and `next`. 32-bit links instead of pointers halve the per-entry bookkeeping.
/// Most recent at the head, eviction candidate at the tail. Not thread-safe (the shard's
/// exclusive side protects it).
struct IndexList {
  static constexpr std::uint32_t nil = 0xffffffffU;

  std::uint32_t head = nil;
  std::uint32_t tail = nil;
  std::size_t size = 0;

  template <class Nodes>
  void push_front(Nodes& nodes, std::uint32_t node) {
    auto& l = nodes.links(node);
    l.prev = nil;
    l.next = head;
    if (head != nil) nodes.links(head).prev = node;
    head = node;
    if (tail == nil) tail = node;
    ++size;
  }
  template <class Nodes>
  void unlink(Nodes& nodes, std::uint32_t node) {
    auto& l = nodes.links(node);
    if (l.prev != nil) {
      nodes.links(l.prev).next = l.next;
    } else {
      head = l.next;
    }
    if (l.next != nil) {
      nodes.links(l.next).prev = l.prev;
    } else {
      tail = l.prev;
    }
    l.prev = l.next = nil;
    --size;
  }
  template <class Nodes>
  void move_to_front(Nodes& nodes, std::uint32_t node) {
    if (head == node) return;
    unlink(nodes, node);
    push_front(nodes, node);
  }
};

}  // namespace ttlcache::detail

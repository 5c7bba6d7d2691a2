// A bounded, append-only set of labelled counter groups with lock-free lookup (content types,
// tiers). SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ttlcache::detail {

/// Maps a label value (a content type, a tier name) to its own group of counters. Groups are
/// created on first use and never removed, so a pointer returned by find_or_add stays valid
/// for the registry's lifetime.
///
/// Lookup is a linear scan of at most `capacity` published entries without a lock: caches see a
/// handful of content types, and comparing a few short strings beats hashing them. Adding takes
/// a mutex. Past `capacity` distinct values, everything else is counted under `overflow_label`,
/// which keeps the number of exported series bounded when callers pass unbounded strings.
///
/// Thread-safety: every member may be called concurrently.
template <class Group>
class LabelRegistry {
 public:
  struct Entry {
    template <class... Args>
    explicit Entry(std::string n, Args&&... args)
        : name(std::move(n)), group(std::forward<Args>(args)...) {}
    std::string name;
    Group group;
  };

  static constexpr std::string_view overflow_label = "other";

  explicit LabelRegistry(std::size_t capacity)
      : capacity_(capacity < 1 ? 1 : capacity), slots_(capacity_ + 1) {
    for (auto& s : slots_) s.store(nullptr, std::memory_order_relaxed);
  }
  LabelRegistry(const LabelRegistry&) = delete;
  LabelRegistry& operator=(const LabelRegistry&) = delete;
  ~LabelRegistry() {
    for (auto& s : slots_) delete s.load(std::memory_order_relaxed);
  }

  /// The group of `label`, created with Group(args...) if new.
  template <class... Args>
  Group& find_or_add(std::string_view label, Args&&... args) {
    if (Entry* e = find(label)) return e->group;
    std::lock_guard<std::mutex> lock(mutex_);
    if (Entry* e = find(label)) return e->group;
    std::size_t n = count_.load(std::memory_order_relaxed);
    std::string name(label);
    if (n >= capacity_) {
      // Full: one more slot holds the overflow group.
      if (Entry* e = find(overflow_label)) return e->group;
      name = std::string(overflow_label);
    }
    auto* entry = new Entry(std::move(name), std::forward<Args>(args)...);
    // release: a reader that sees the new count sees a fully built entry.
    slots_[n].store(entry, std::memory_order_release);
    count_.store(n + 1, std::memory_order_release);
    return entry->group;
  }

  /// Calls fn(name, group) for every group, in creation order.
  template <class Fn>
  void for_each(Fn&& fn) const {
    const std::size_t n = count_.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < n; ++i) {
      const Entry* e = slots_[i].load(std::memory_order_acquire);
      fn(e->name, e->group);
    }
  }

 private:
  Entry* find(std::string_view label) const noexcept {
    const std::size_t n = count_.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < n; ++i) {
      Entry* e = slots_[i].load(std::memory_order_acquire);
      if (e->name == label) return e;
    }
    return nullptr;
  }

  const std::size_t capacity_;
  std::vector<std::atomic<Entry*>> slots_;
  std::atomic<std::size_t> count_{0};
  std::mutex mutex_;
};

}  // namespace ttlcache::detail

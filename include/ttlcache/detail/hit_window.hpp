// Sliding-window hit rate from periodic samples of the cumulative counters (no hot-path cost).
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace ttlcache::detail {

/// The cumulative hit and miss counts at one instant.
struct HitSample {
  std::int64_t t_ns = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
};

/// A window's result: what happened between `base` and `now`.
struct HitDelta {
  std::int64_t span_ns = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
};

/// Keeps a ring of samples of the cumulative (hits, misses), at least `spacing_ns` apart. A
/// window is the difference between "now" and the newest sample old enough (by time, or by
/// operation count), so recording a hit never touches the window: only whoever samples pays
/// (the recorder samples every few hundred operations per stripe and on every snapshot).
///
/// Resolution: a window of T seconds covers between T and T + spacing + the gap between samples;
/// the exact span is reported. Before the ring holds an old enough sample, the window starts at
/// the creation of the cache (the first sample).
///
/// Thread-safety: all members may be called concurrently (a mutex; never on the hot path).
/// try_sample gives up instead of waiting when another thread is sampling.
class HitWindow {
 public:
  HitWindow(std::int64_t start_ns, std::int64_t spacing_ns, std::size_t capacity)
      : spacing_ns_(spacing_ns > 0 ? spacing_ns : 1), ring_(capacity < 2 ? 2 : capacity) {
    ring_[0] = HitSample{start_ns, 0, 0};
    size_ = 1;
  }

  /// Adds a sample unless the newest one is younger than the spacing.
  void sample(const HitSample& s) {
    std::lock_guard<std::mutex> lock(mutex_);
    add_locked(s);
  }
  /// As sample(), but returns at once if another thread holds the window.
  void try_sample(const HitSample& s) {
    std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
    if (lock.owns_lock()) add_locked(s);
  }

  /// Hits and misses in the last `window_ns` (at least), ending at `now`.
  HitDelta over_time(const HitSample& now, std::int64_t window_ns) const {
    std::lock_guard<std::mutex> lock(mutex_);
    // The newest sample taken at or before now - window; else the oldest one kept.
    std::size_t pick = 0;
    for (std::size_t i = 0; i < size_; ++i) {
      if (now.t_ns - at(i).t_ns >= window_ns) pick = i;
    }
    return delta(at(pick), now);
  }

  /// Hits and misses over the last `operations` reads (at least), ending at `now`.
  HitDelta over_operations(const HitSample& now, std::uint64_t operations) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::uint64_t ops_now = now.hits + now.misses;
    std::size_t pick = 0;
    for (std::size_t i = 0; i < size_; ++i) {
      const HitSample& s = at(i);
      if (ops_now - (s.hits + s.misses) >= operations) pick = i;
    }
    return delta(at(pick), now);
  }

 private:
  // Oldest first: index 0 is the oldest sample kept.
  const HitSample& at(std::size_t i) const { return ring_[(head_ + i) % ring_.size()]; }

  void add_locked(const HitSample& s) {
    const HitSample& newest = at(size_ - 1);
    if (s.t_ns - newest.t_ns < spacing_ns_) return;
    if (size_ < ring_.size()) {
      ring_[(head_ + size_) % ring_.size()] = s;
      ++size_;
    } else {
      ring_[head_] = s;  // overwrite the oldest
      head_ = (head_ + 1) % ring_.size();
    }
  }

  static HitDelta delta(const HitSample& base, const HitSample& now) {
    HitDelta d;
    d.span_ns = now.t_ns - base.t_ns;
    // Counters are read stripe by stripe, so a later sample can momentarily trail an earlier
    // one by an in-flight increment; clamp rather than wrap.
    d.hits = now.hits > base.hits ? now.hits - base.hits : 0;
    d.misses = now.misses > base.misses ? now.misses - base.misses : 0;
    return d;
  }

  const std::int64_t spacing_ns_;
  mutable std::mutex mutex_;
  std::vector<HitSample> ring_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace ttlcache::detail

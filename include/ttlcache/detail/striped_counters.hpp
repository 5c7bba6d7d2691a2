// Striped counters and a log-scale latency histogram: contention-free recording for statistics.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>

#include "ttlcache/detail/read_mostly_lock.hpp"

namespace ttlcache::detail {

/// Number of stripes for per-cache statistics: about two per core, a power of two, 4 to 64.
inline std::uint32_t default_stat_stripes() noexcept {
  const std::uint32_t cores = std::max(1U, std::thread::hardware_concurrency());
  std::uint32_t n = 4;
  while (n < 2 * cores && n < 64) n <<= 1;
  return n;
}

/// N counters, kept once per stripe; a thread always writes the stripe its thread_slot_seed()
/// picks, and each stripe starts on its own cache line, so two threads recording at the same
/// time write different lines (a single shared counter would bounce between cores on every
/// hit). Readers sum the stripes: a snapshot is not atomic across counters, but each counter is
/// monotonic. Additions are relaxed: the counters order nothing.
template <std::size_t N>
class StripedCounters {
 public:
  explicit StripedCounters(std::uint32_t stripes = default_stat_stripes()) {
    std::uint32_t n = 1;
    while (n < stripes) n <<= 1;
    mask_ = n - 1;
    stripes_ = std::make_unique<Stripe[]>(n);
  }

  /// Adds n to counter i of the calling thread's stripe; returns that stripe's previous value
  /// (callers use it to do something every k-th event without a second shared counter).
  std::uint64_t add(std::size_t i, std::uint64_t n = 1) noexcept {
    return stripes_[thread_slot_seed() & mask_].values[i].fetch_add(n, std::memory_order_relaxed);
  }

  std::uint64_t sum(std::size_t i) const noexcept {
    std::uint64_t total = 0;
    for (std::uint32_t s = 0; s <= mask_; ++s) {
      total += stripes_[s].values[i].load(std::memory_order_relaxed);
    }
    return total;
  }

  std::array<std::uint64_t, N> sum_all() const noexcept {
    std::array<std::uint64_t, N> out{};
    for (std::uint32_t s = 0; s <= mask_; ++s) {
      for (std::size_t i = 0; i < N; ++i) {
        out[i] += stripes_[s].values[i].load(std::memory_order_relaxed);
      }
    }
    return out;
  }

 private:
  struct alignas(64) Stripe {
    Stripe() noexcept {
      for (auto& v : values) v.store(0, std::memory_order_relaxed);
    }
    std::atomic<std::uint64_t> values[N];
  };

  std::unique_ptr<Stripe[]> stripes_;
  std::uint32_t mask_ = 0;
};

/// Fixed log-scale buckets for durations: bucket i holds values in (2^(i+6), 2^(i+7)] ns, the
/// first bucket everything up to 128 ns, the last one everything over 2^35 ns (34.4 s). Powers
/// of two keep the bucket index one count-leading-zeros instruction; the price is a factor-2
/// bucket width, which the percentile estimate narrows by interpolating inside the bucket.
struct LatencyBuckets {
  static constexpr std::size_t first_exponent = 7;
  static constexpr std::size_t last_exponent = 35;
  /// Buckets with a finite upper bound, then one overflow bucket.
  static constexpr std::size_t finite = last_exponent - first_exponent + 1;
  static constexpr std::size_t count = finite + 1;

  /// Upper bound (inclusive) of bucket i in nanoseconds; i < finite.
  static constexpr std::uint64_t upper_bound_ns(std::size_t i) noexcept {
    return std::uint64_t{1} << (first_exponent + i);
  }
  /// Lower bound (exclusive) of bucket i in nanoseconds.
  static constexpr std::uint64_t lower_bound_ns(std::size_t i) noexcept {
    return i == 0 ? 0 : upper_bound_ns(i - 1);
  }

  static std::size_t index_of(std::uint64_t ns) noexcept {
    if (ns <= (std::uint64_t{1} << first_exponent)) return 0;
    // ceil(log2(ns)) for ns >= 2: the bit width of ns - 1.
    const auto exponent = static_cast<std::size_t>(64 - __builtin_clzll(ns - 1));
    return std::min(exponent - first_exponent, finite);
  }
};

/// A striped histogram over LatencyBuckets, plus the sum of recorded values.
class LatencyHistogram {
 public:
  static constexpr std::size_t sum_index = LatencyBuckets::count;

  explicit LatencyHistogram(std::uint32_t stripes = default_stat_stripes()) : cells_(stripes) {}

  void record(std::uint64_t ns) noexcept {
    cells_.add(LatencyBuckets::index_of(ns));
    cells_.add(sum_index, ns);
  }

  /// Per-bucket counts (not cumulative) followed by the sum in nanoseconds.
  std::array<std::uint64_t, LatencyBuckets::count + 1> read() const noexcept {
    return cells_.sum_all();
  }

 private:
  StripedCounters<LatencyBuckets::count + 1> cells_;
};

}  // namespace ttlcache::detail

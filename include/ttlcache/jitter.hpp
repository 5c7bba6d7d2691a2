// Jitter: spreads any TTL over +-N % so entries written together do not expire together.
// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include "ttlcache/errors.hpp"

namespace ttlcache {

namespace detail {
/// The splitmix64 finaliser: a bijection that spreads every input bit over the output.
constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31U);
}

/// The n-th draw (n >= 0) of the sequence named by `seed`, uniform in [0, 1).
constexpr double unit_draw(std::uint64_t seed, std::uint64_t n) noexcept {
  const std::uint64_t x = mix64(seed + (n + 1) * 0x9E3779B97F4A7C15ULL);
  return static_cast<double>(x >> 11U) * 0x1.0p-53;
}
}  // namespace detail

/// Multiplies TTLs by a factor drawn uniformly from [1 - N/100, 1 + N/100): the thundering-herd
/// guard of seed 004, for explicit durations as well as DynamicTTL's computed ones. A TTL that
/// many entries share (a warm-up, a batch write) then expires over a band instead of at once.
///
/// Reproducible: with a seed, the n-th draw (counted from construction over every apply() and
/// factor() call) depends only on the seed and n, whatever thread makes it; several threads
/// share one counter, so their draws are the seeded sequence in the order they interleave.
/// Without a seed, the seed comes from std::random_device, so processes started together spread
/// differently.
///
/// Thread-safety: every const member may be called concurrently (one relaxed atomic add per
/// draw; no lock, no allocation). Exceptions: the constructor throws config_error on a bad
/// percentage; everything else is noexcept.
class Jitter {
 public:
  /// No jitter: apply() returns its argument.
  Jitter() noexcept = default;

  /// +-percent, 0 <= percent < 100 (0 disables).
  /// @throws config_error (path "jitter_percent") when percent is outside [0, 100) or NaN.
  explicit Jitter(double percent, std::optional<std::uint64_t> seed = std::nullopt)
      : fraction_(checked(percent) / 100.0), seed_(seed ? *seed : random_seed()) {}

  /// A copy continues from the same point of the sequence, independently of the original.
  Jitter(const Jitter& other) noexcept
      : fraction_(other.fraction_),
        seed_(other.seed_),
        draws_(other.draws_.load(std::memory_order_relaxed)) {}
  Jitter& operator=(const Jitter& other) noexcept {
    fraction_ = other.fraction_;
    seed_ = other.seed_;
    draws_.store(other.draws_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return *this;
  }
  ~Jitter() = default;

  double percent() const noexcept { return fraction_ * 100.0; }
  bool enabled() const noexcept { return fraction_ > 0.0; }

  /// The next factor, in [1 - N/100, 1 + N/100); exactly 1 when disabled (no draw is made).
  double factor() const noexcept {
    if (fraction_ <= 0.0) return 1.0;
    const std::uint64_t n = draws_.fetch_add(1, std::memory_order_relaxed);
    return 1.0 + fraction_ * (2.0 * detail::unit_draw(seed_, n) - 1.0);
  }

  /// ttl x factor(), rounded to the millisecond and never below 1 ms. A non-positive ttl is
  /// returned unchanged (and draws nothing): rejecting it is the caller's job.
  std::chrono::milliseconds apply(std::chrono::milliseconds ttl) const noexcept {
    if (ttl.count() <= 0 || fraction_ <= 0.0) return ttl;
    const auto ms = std::llround(static_cast<double>(ttl.count()) * factor());
    return std::chrono::milliseconds(ms < 1 ? 1 : ms);
  }

 private:
  static double checked(double percent) {
    if (!(percent >= 0.0 && percent < 100.0)) {
      throw config_error("jitter_percent",
                         "jitter must be a percentage in [0, 100), got " + std::to_string(percent));
    }
    return percent;
  }
  static std::uint64_t random_seed() noexcept {
    try {
      std::random_device device;
      return (static_cast<std::uint64_t>(device()) << 32U) ^ device();
    } catch (...) {
      // No entropy source: the clock still keeps processes started together apart.
      return detail::mix64(static_cast<std::uint64_t>(
          std::chrono::high_resolution_clock::now().time_since_epoch().count()));
    }
  }

  double fraction_ = 0.0;
  std::uint64_t seed_ = 0;
  mutable std::atomic<std::uint64_t> draws_{0};
};

}  // namespace ttlcache

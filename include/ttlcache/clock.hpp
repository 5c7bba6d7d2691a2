// The injectable clock: every TTL decision reads time through it, so tests fake time.
// SPDX-License-Identifier: MIT
#pragma once

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace ttlcache {

/// Source of time for expiry (monotonic) and for time-of-day rules (wall clock).
/// Implementations must be thread-safe; now() is called on every cache read.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Monotonic time; entry expiry is measured against it.
  virtual std::chrono::steady_clock::time_point now() const noexcept = 0;
  /// Wall-clock time; only time-of-day policies (DynamicTTL windows) read it.
  virtual std::chrono::system_clock::time_point wall_now() const noexcept = 0;
};

/// The real clocks. Caches given no clock use these directly, without a virtual call.
class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const noexcept override {
    return std::chrono::steady_clock::now();
  }
  std::chrono::system_clock::time_point wall_now() const noexcept override {
    return std::chrono::system_clock::now();
  }
};

/// A manually driven clock for tests: time stands still until advance() or set_wall().
/// Thread-safe: readers and advance() may race; each read sees some consistent instant.
class FakeClock final : public Clock {
 public:
  /// Starts at steady epoch + 1 h (so "now minus a TTL" never underflows) and at the given
  /// wall time (default 2024-01-01 12:00:00 UTC).
  explicit FakeClock(std::chrono::system_clock::time_point wall =
                         std::chrono::system_clock::time_point(std::chrono::seconds(1704110400)))
      : steady_ns_(std::chrono::nanoseconds(std::chrono::hours(1)).count()),
        wall_ns_(
            std::chrono::duration_cast<std::chrono::nanoseconds>(wall.time_since_epoch()).count()) {
  }

  std::chrono::steady_clock::time_point now() const noexcept override {
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::nanoseconds(steady_ns_.load(std::memory_order_acquire))));
  }
  std::chrono::system_clock::time_point wall_now() const noexcept override {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(wall_ns_.load(std::memory_order_acquire))));
  }

  /// Moves both clocks forward by d (d may not be negative: monotonic time never goes back).
  void advance(std::chrono::nanoseconds d) noexcept {
    if (d.count() < 0) return;
    steady_ns_.fetch_add(d.count(), std::memory_order_acq_rel);
    wall_ns_.fetch_add(d.count(), std::memory_order_acq_rel);
  }
  /// Sets the wall clock only (e.g. to test a time-of-day window); steady time is unchanged.
  void set_wall(std::chrono::system_clock::time_point wall) noexcept {
    wall_ns_.store(
        std::chrono::duration_cast<std::chrono::nanoseconds>(wall.time_since_epoch()).count(),
        std::memory_order_release);
  }

 private:
  std::atomic<std::int64_t> steady_ns_;
  std::atomic<std::int64_t> wall_ns_;
};

namespace detail {

/// Monotonic time in ns from the kernel's tick-granular clock (CLOCK_MONOTONIC_COARSE where it
/// exists): a vDSO read of a cached value, several times cheaper than steady_clock::now(). The
/// same timeline as steady_clock (CLOCK_MONOTONIC) but trailing it by up to one tick (see
/// coarse_clock_resolution()), more if kernel timekeeping stalls: callers that must not act
/// late confirm with steady_clock near a deadline (MemoryBackend::coarse_clock_guard).
/// Falls back to steady_clock where the coarse clock is missing.
inline std::int64_t coarse_now_ns() noexcept {
#if defined(CLOCK_MONOTONIC_COARSE)
  timespec ts{};
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0) {
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  }
#endif
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// The coarse clock's resolution: one kernel tick (1-10 ms depending on CONFIG_HZ; 4 ms on a
/// HZ=250 kernel), how far coarse_now_ns() normally trails steady_clock. 0 without one.
inline std::chrono::nanoseconds coarse_clock_resolution() noexcept {
#if defined(CLOCK_MONOTONIC_COARSE)
  timespec res{};
  if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0) {
    return std::chrono::seconds(res.tv_sec) + std::chrono::nanoseconds(res.tv_nsec);
  }
#endif
  return std::chrono::nanoseconds(0);
}

}  // namespace detail

}  // namespace ttlcache

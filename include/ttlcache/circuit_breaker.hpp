// CircuitBreaker: stops calling a failing backend for a cool-down, then probes it to recover.
// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "ttlcache/clock.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/stats.hpp"

namespace ttlcache {

/// Settings of a CircuitBreaker.
struct BreakerOptions {
  /// false: no breaker; every call goes to the backend.
  bool enabled = true;
  /// Consecutive failures that open the breaker (closed -> open). At least 1.
  std::uint32_t failure_threshold = 5;
  /// How long an open breaker refuses calls before it lets one probe through (open ->
  /// half-open). Positive.
  std::chrono::milliseconds open_for = std::chrono::seconds(1);

  /// Slow-call rule, modelled on resilience4j's slow-call rate: a call that takes at least
  /// slow_call_duration (whether it succeeds or fails) is slow; when at least
  /// slow_call_rate_threshold percent of the last `sliding_window` calls (counted once at least
  /// `minimum_calls` are in the window) were slow, the breaker opens, as for failures. A probe
  /// that is slow reopens it. Zero (the default) turns the rule off: no clock read per call.
  /// Why: a stalled server (DEBUG SLEEP, a full disk) answers, late, so it never fails
  /// `failure_threshold` times in a row, yet every caller waits on it.
  std::chrono::milliseconds slow_call_duration{0};
  /// Percent of slow calls in the window that opens the breaker, 1 to 100.
  std::uint32_t slow_call_rate_threshold = 50;
  /// Calls the rate is measured over (a count-based sliding window), 1 to 32.
  std::uint32_t sliding_window = 10;
  /// Calls needed in the window before the rate is judged, 1 to sliding_window.
  std::uint32_t minimum_calls = 2;
};

/// A call was not made because the circuit breaker in front of the backend is open (or a probe
/// is under way). backend() names the backend that is not being called.
class breaker_open_error : public connection_error {
 public:
  using connection_error::connection_error;
};

/// Counters of a CircuitBreaker. Monotonic.
struct BreakerCounters {
  std::uint64_t opened = 0;      ///< closed/half-open -> open transitions
  std::uint64_t rejected = 0;    ///< calls refused (fail fast) while open or half-open
  std::uint64_t probes = 0;      ///< probe calls let through (open -> half-open)
  std::uint64_t slow_calls = 0;  ///< calls that took at least slow_call_duration
};

/// The classic three-state breaker. Closed: every call is admitted; `failure_threshold`
/// consecutive failures open it. Open: calls are refused for `open_for` (the caller fails fast
/// instead of waiting on a dead server); so does a slow-call rate at or above its threshold
/// (BreakerOptions::slow_call_duration). Then half-open: exactly one call (the probe) is
/// admitted, the others are still refused; the probe's success closes the breaker, its failure
/// opens it for another `open_for`.
///
/// Use: `auto permit = breaker.acquire(); if (!permit) fail fast; ... permit.succeeded()` or
/// `permit.failed()`. A permit dropped without either (the call threw something that says
/// nothing about the backend's health, e.g. argument_error) counts as neither; a probe dropped
/// that way hands the probe to the next caller at once.
///
/// Cost: while closed, acquire() is one atomic load and succeeded() one more (a store only
/// after a failure); no lock, no clock read. The clock is read only while open and on failures,
/// and, with the slow-call rule on, twice per call plus one compare-and-swap on the window.
///
/// Thread-safety: every member may be called concurrently. The listener runs on the thread
/// that made the transition, without any lock held; what it throws is dropped.
class CircuitBreaker {
 public:
  /// from, to.
  using Listener = std::function<void(BreakerState, BreakerState)>;

  /// The right to make one call; see CircuitBreaker. Move-only.
  class Permit {
   public:
    /// Admitted, with no breaker behind it (for callers whose breaker is disabled).
    Permit() noexcept = default;
    Permit(Permit&& other) noexcept
        : breaker_(std::exchange(other.breaker_, nullptr)),
          kind_(other.kind_),
          started_ns_(other.started_ns_) {}
    Permit& operator=(Permit&&) = delete;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() {
      if (breaker_ != nullptr && kind_ == Kind::probe) breaker_->release_probe();
    }

    /// true: make the call.
    explicit operator bool() const noexcept { return kind_ != Kind::rejected; }
    /// true for the one call a half-open breaker lets through.
    bool probe() const noexcept { return kind_ == Kind::probe; }

    void succeeded() noexcept {
      if (auto* b = std::exchange(breaker_, nullptr)) {
        const bool probe = kind_ == Kind::probe;
        if (b->record_duration(started_ns_, probe)) {
          if (probe) b->on_failure(true);  // a slow probe: the server is not back yet
          return;
        }
        b->on_success(probe);
      }
    }
    void failed() noexcept {
      if (auto* b = std::exchange(breaker_, nullptr)) {
        const bool probe = kind_ == Kind::probe;
        b->record_duration(started_ns_, probe);  // a slow failure also counts in the rate
        b->on_failure(probe);
      }
    }

   private:
    friend class CircuitBreaker;
    enum class Kind : std::uint8_t { normal, probe, rejected };
    Permit(CircuitBreaker* breaker, Kind kind, std::int64_t started_ns = 0) noexcept
        : breaker_(breaker), kind_(kind), started_ns_(started_ns) {}
    CircuitBreaker* breaker_ = nullptr;
    Kind kind_ = Kind::normal;
    std::int64_t started_ns_ = 0;  // only with the slow-call rule
  };

  /// Throws argument_error for a zero threshold or a non-positive open_for. A null clock means
  /// the steady clock.
  explicit CircuitBreaker(BreakerOptions options = {}, std::shared_ptr<const Clock> clock = nullptr,
                          Listener on_change = {})
      : options_(options), clock_(std::move(clock)), listener_(std::move(on_change)) {
    if (options_.failure_threshold == 0) {
      throw argument_error("ttlcache circuit breaker: failure_threshold must be at least 1");
    }
    if (options_.open_for.count() <= 0) {
      throw argument_error("ttlcache circuit breaker: open_for must be positive");
    }
    if (options_.slow_call_duration.count() < 0) {
      throw argument_error("ttlcache circuit breaker: slow_call_duration must not be negative");
    }
    if (options_.slow_call_duration.count() > 0) {
      if (options_.sliding_window == 0 || options_.sliding_window > 32) {
        throw argument_error("ttlcache circuit breaker: sliding_window must be 1 to 32 calls");
      }
      if (options_.minimum_calls == 0 || options_.minimum_calls > options_.sliding_window) {
        throw argument_error("ttlcache circuit breaker: minimum_calls must be 1 to sliding_window");
      }
      if (options_.slow_call_rate_threshold == 0 || options_.slow_call_rate_threshold > 100) {
        throw argument_error(
            "ttlcache circuit breaker: slow_call_rate_threshold must be 1 to 100 (percent)");
      }
    }
  }
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  /// Asks to make one call. Never blocks.
  Permit acquire() noexcept {
    int s = state_.load(std::memory_order_acquire);
    const bool timed = slow_ns_ > 0;
    if (s == closed_) return Permit(this, Permit::Kind::normal, timed ? now_ns() : 0);
    const std::int64_t now = now_ns();
    if (s == open_ && now - opened_at_ns_.load(std::memory_order_acquire) >= open_ns()) {
      // Of all callers arriving after the cool-down, the one whose exchange succeeds probes.
      if (state_.compare_exchange_strong(s, half_open_, std::memory_order_acq_rel)) {
        probes_.fetch_add(1, std::memory_order_relaxed);
        notify(BreakerState::open, BreakerState::half_open);
        return Permit(this, Permit::Kind::probe, now);
      }
    }
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return Permit(nullptr, Permit::Kind::rejected);
  }

  BreakerState state() const noexcept {
    return static_cast<BreakerState>(state_.load(std::memory_order_acquire));
  }
  /// Failures in a row while closed (reset by a success or by closing).
  std::uint32_t consecutive_failures() const noexcept {
    return failures_.load(std::memory_order_relaxed);
  }
  /// Time left before an open breaker admits a probe; zero unless open.
  std::chrono::milliseconds retry_in() const noexcept {
    if (state() != BreakerState::open) return std::chrono::milliseconds(0);
    const std::int64_t left =
        open_ns() - (now_ns() - opened_at_ns_.load(std::memory_order_acquire));
    return std::chrono::ceil<std::chrono::milliseconds>(
        std::chrono::nanoseconds(left > 0 ? left : 0));
  }
  BreakerCounters counters() const noexcept {
    BreakerCounters c;
    c.opened = opened_.load(std::memory_order_relaxed);
    c.rejected = rejected_.load(std::memory_order_relaxed);
    c.probes = probes_.load(std::memory_order_relaxed);
    c.slow_calls = slow_calls_.load(std::memory_order_relaxed);
    return c;
  }
  const BreakerOptions& options() const noexcept { return options_; }

 private:
  static constexpr int closed_ = static_cast<int>(BreakerState::closed);
  static constexpr int open_ = static_cast<int>(BreakerState::open);
  static constexpr int half_open_ = static_cast<int>(BreakerState::half_open);

  void on_success(bool probe) noexcept {
    if (!probe) {
      // Load first: on the hot path the counter is already 0 and the line stays shared.
      if (failures_.load(std::memory_order_relaxed) != 0) {
        failures_.store(0, std::memory_order_relaxed);
      }
      return;
    }
    failures_.store(0, std::memory_order_relaxed);
    window_.store(0, std::memory_order_relaxed);  // judged afresh after recovery
    int expected = half_open_;
    if (state_.compare_exchange_strong(expected, closed_, std::memory_order_acq_rel)) {
      notify(BreakerState::half_open, BreakerState::closed);
    }
  }

  void on_failure(bool probe) noexcept {
    if (probe) {
      open_from(half_open_);
      return;
    }
    // A call admitted while closed that fails after the breaker opened changes nothing.
    if (state_.load(std::memory_order_acquire) != closed_) return;
    const std::uint32_t n = failures_.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (n >= options_.failure_threshold) open_from(closed_);
  }

  // The slow-call rule: records one call's duration in the window. Returns whether the call
  // was slow. A slow call that brings the window's rate to the threshold opens the breaker.
  bool record_duration(std::int64_t started_ns, bool probe) noexcept {
    if (slow_ns_ == 0) return false;
    const bool slow = now_ns() - started_ns >= slow_ns_;
    if (slow) slow_calls_.fetch_add(1, std::memory_order_relaxed);
    if (probe) return slow;  // the probe's verdict is the caller's
    // Window: the outcomes of the last calls in the low 32 bits (1 = slow), their count above.
    const std::uint64_t mask = (std::uint64_t{1} << options_.sliding_window) - 1;
    std::uint64_t old = window_.load(std::memory_order_relaxed);
    std::uint64_t next = 0;
    do {
      const std::uint64_t bits = ((old << 1) | (slow ? 1U : 0U)) & mask;
      std::uint64_t count = (old >> 32) + 1;
      if (count > options_.sliding_window) count = options_.sliding_window;
      next = (count << 32) | bits;
    } while (!window_.compare_exchange_weak(old, next, std::memory_order_acq_rel));
    if (!slow) return false;
    const std::uint64_t count = next >> 32;
    const auto slow_count = static_cast<std::uint64_t>(popcount(next & mask));
    if (count >= options_.minimum_calls &&
        slow_count * 100 >= std::uint64_t{options_.slow_call_rate_threshold} * count &&
        state_.load(std::memory_order_acquire) == closed_) {
      open_from(closed_);
    }
    return true;
  }

  static int popcount(std::uint64_t v) noexcept {
    int n = 0;
    for (; v != 0; v &= v - 1) ++n;
    return n;
  }

  // The probe said nothing about the backend: back to open with the old opening time, so the
  // next caller probes at once.
  void release_probe() noexcept {
    int expected = half_open_;
    if (state_.compare_exchange_strong(expected, open_, std::memory_order_acq_rel)) {
      notify(BreakerState::half_open, BreakerState::open);
    }
  }

  void open_from(int from) noexcept {
    // The opening time is published before the state, so whoever sees "open" sees its time.
    opened_at_ns_.store(now_ns(), std::memory_order_release);
    if (state_.compare_exchange_strong(from, open_, std::memory_order_acq_rel)) {
      opened_.fetch_add(1, std::memory_order_relaxed);
      notify(static_cast<BreakerState>(from), BreakerState::open);
    }
  }

  void notify(BreakerState from, BreakerState to) const noexcept {
    if (!listener_) return;
    try {
      listener_(from, to);
    } catch (...) {  // a failing listener must not break the call that moved the breaker
    }
  }

  std::int64_t now_ns() const noexcept {
    const auto t = clock_ ? clock_->now() : std::chrono::steady_clock::now();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }
  std::int64_t open_ns() const noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(options_.open_for).count();
  }

  const BreakerOptions options_;
  const std::shared_ptr<const Clock> clock_;
  const Listener listener_;
  std::atomic<int> state_{closed_};
  std::atomic<std::uint32_t> failures_{0};
  std::atomic<std::int64_t> opened_at_ns_{0};
  const std::int64_t slow_ns_ =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.slow_call_duration).count();
  std::atomic<std::uint64_t> window_{0};
  std::atomic<std::uint64_t> opened_{0}, rejected_{0}, probes_{0}, slow_calls_{0};
};

}  // namespace ttlcache

// Per-call deadline: one time budget for a whole cache call, across all its round trips.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>

namespace ttlcache {

namespace detail {
using deadline_clock = std::chrono::steady_clock;

// Thread-local because a cache call runs on one thread from its start to its end; the remote
// layers far below (a Redis socket wait) read it without any parameter threaded through.
inline deadline_clock::time_point& deadline_slot() noexcept {
  thread_local deadline_clock::time_point slot = deadline_clock::time_point::max();
  return slot;
}
}  // namespace detail

/// The deadline of the call running on this thread; time_point::max() when there is none.
inline std::chrono::steady_clock::time_point call_deadline() noexcept {
  return detail::deadline_slot();
}

/// How long a single wait (one socket read or write, one connect) may take now: `cap` (the
/// wait's own timeout, e.g. RedisOptions::command_timeout) or what is left of the call's
/// budget, whichever is shorter. Zero when the budget is spent: the caller must then fail with
/// timeout_error without waiting at all.
inline std::chrono::milliseconds remaining_budget(std::chrono::milliseconds cap) noexcept {
  const auto deadline = detail::deadline_slot();
  if (deadline == detail::deadline_clock::time_point::max()) return cap;
  const auto now = detail::deadline_clock::now();
  if (now >= deadline) return std::chrono::milliseconds(0);
  // Round up so that 0.4 ms left is a 1 ms wait, not "spent".
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
  return left < cap ? left : cap;
}

/// True when the current call's budget is spent.
inline bool deadline_passed() noexcept {
  const auto deadline = detail::deadline_slot();
  return deadline != detail::deadline_clock::time_point::max() &&
         detail::deadline_clock::now() >= deadline;
}

/// Sets the deadline of every remote wait made on this thread until it is destroyed. Scopes
/// nest: an inner scope never extends an outer one (the earlier deadline wins), and the outer
/// deadline is restored on destruction. A budget of zero or less means "no deadline" for this
/// scope (the outer one, if any, still holds).
///
/// Thread-safety: affects the calling thread only. Exceptions: none.
class DeadlineScope {
 public:
  explicit DeadlineScope(std::chrono::milliseconds budget) noexcept
      : saved_(detail::deadline_slot()) {
    if (budget.count() <= 0) return;
    const auto mine = detail::deadline_clock::now() + budget;
    if (mine < saved_) detail::deadline_slot() = mine;
  }
  /// A scope ending at an absolute point (already passed: every remote wait fails at once).
  explicit DeadlineScope(std::chrono::steady_clock::time_point deadline) noexcept
      : saved_(detail::deadline_slot()) {
    if (deadline < saved_) detail::deadline_slot() = deadline;
  }
  ~DeadlineScope() { detail::deadline_slot() = saved_; }
  DeadlineScope(const DeadlineScope&) = delete;
  DeadlineScope& operator=(const DeadlineScope&) = delete;

 private:
  detail::deadline_clock::time_point saved_;
};

}  // namespace ttlcache

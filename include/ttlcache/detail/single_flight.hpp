// Single-flight: concurrent callers for the same key share one execution of a function.
// SPDX-License-Identifier: MIT
#pragma once

#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include "ttlcache/detail/hash.hpp"

namespace ttlcache::detail {

/// The first caller for a key runs fn; callers arriving while it runs wait and receive its
/// result or its exception. Calls for different keys proceed in parallel: in-flight calls are
/// kept in striped maps so unrelated keys do not share a lock.
template <class K, class V, class Hash = std::hash<K>, class KeyEqual = std::equal_to<K>>
class SingleFlight {
 public:
  /// Runs fn() for key unless a call for key is already running, in which case waits for it.
  /// Returns fn's value or rethrows its exception, for every caller alike.
  ///
  /// epoch: what the caller has seen of writes to key (a counter that only grows). A caller
  /// does not join a call that began at an older epoch: that call may have read its source
  /// before a write the caller must see (a write that returned before the caller began). It
  /// lets that call finish, then runs (or joins) a newer one. 0 joins any call.
  template <class Fn>
  V run(const K& key, std::uint64_t epoch, Fn&& fn) {
    Stripe& stripe = stripes_[mix_hash(static_cast<std::uint64_t>(Hash{}(key))) % stripe_count];
    for (;;) {
      std::shared_ptr<Call> call;
      bool leader = false;
      std::uint64_t call_epoch = 0;
      {
        std::lock_guard<std::mutex> lock(stripe.mutex);
        auto [it, inserted] = stripe.calls.try_emplace(key);
        if (inserted) {
          it->second = std::make_shared<Call>();
          it->second->epoch = epoch;
        }
        call = it->second;
        leader = inserted;
        call_epoch = call->epoch;
      }
      if (leader) return *lead(stripe, key, *call, std::forward<Fn>(fn));
      if (call_epoch >= epoch) return wait(*call);
      wait_done(*call);  // began before a write this caller must see: not its answer
    }
  }
  template <class Fn>
  V run(const K& key, Fn&& fn) {
    return run(key, 0, std::forward<Fn>(fn));
  }

  /// Runs fn() for key only if no call for key is running; otherwise returns nullopt at once
  /// (early refresh: one caller refreshes, the others go on with the value they have).
  /// Callers of run() arriving meanwhile wait for this call as for any other.
  template <class Fn>
  std::optional<V> try_run(const K& key, Fn&& fn, std::uint64_t epoch = 0) {
    Stripe& stripe = stripes_[mix_hash(static_cast<std::uint64_t>(Hash{}(key))) % stripe_count];
    std::shared_ptr<Call> call;
    {
      std::lock_guard<std::mutex> lock(stripe.mutex);
      auto [it, inserted] = stripe.calls.try_emplace(key);
      if (!inserted) return std::nullopt;
      it->second = std::make_shared<Call>();
      it->second->epoch = epoch;
      call = it->second;
    }
    return lead(stripe, key, *call, std::forward<Fn>(fn));
  }

  /// Number of keys with a call in flight (for tests and metrics).
  std::size_t in_flight() const {
    std::size_t n = 0;
    for (const auto& stripe : stripes_) {
      std::lock_guard<std::mutex> lock(stripe.mutex);
      n += stripe.calls.size();
    }
    return n;
  }

 private:
  static constexpr std::size_t stripe_count = 16;

  struct Call {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    std::uint64_t epoch = 0;  // the leader's, set before the call is published
    std::optional<V> value;
    std::exception_ptr error;
  };

  struct alignas(64) Stripe {
    mutable std::mutex mutex;
    std::unordered_map<K, std::shared_ptr<Call>, Hash, KeyEqual> calls;
  };

  // The leader's part: runs fn, hands the outcome to the waiters, returns it (or rethrows).
  template <class Fn>
  std::optional<V> lead(Stripe& stripe, const K& key, Call& call, Fn&& fn) {
    std::optional<V> result;
    std::exception_ptr error;
    try {
      result.emplace(std::forward<Fn>(fn)());
    } catch (...) {
      error = std::current_exception();
    }
    finish(stripe, key, call, result, error);
    if (error) std::rethrow_exception(error);
    return result;
  }

  static void wait_done(Call& call) {
    std::unique_lock<std::mutex> lock(call.mutex);
    call.done_cv.wait(lock, [&] { return call.done; });
  }
  static V wait(Call& call) {
    std::unique_lock<std::mutex> lock(call.mutex);
    call.done_cv.wait(lock, [&] { return call.done; });
    if (call.error) std::rethrow_exception(call.error);
    return *call.value;
  }

  // Publishes the outcome, wakes the waiters, then forgets the call: later callers start a new
  // one (by then the value is normally in the cache). Never throws: waiters must be woken.
  void finish(Stripe& stripe, const K& key, Call& call, const std::optional<V>& result,
              const std::exception_ptr& error) noexcept {
    {
      std::lock_guard<std::mutex> lock(call.mutex);
      try {
        if (error) {
          call.error = error;
        } else {
          call.value = result;
        }
      } catch (...) {  // copying the value for the waiters failed: they get that error
        call.error = std::current_exception();
      }
      call.done = true;
    }
    call.done_cv.notify_all();
    std::lock_guard<std::mutex> lock(stripe.mutex);
    stripe.calls.erase(key);
  }

  std::array<Stripe, stripe_count> stripes_;
};

}  // namespace ttlcache::detail

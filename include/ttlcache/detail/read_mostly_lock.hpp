// A reader-writer lock whose readers touch only their own cache line, plus per-reader access logs.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ttlcache::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Spins briefly, then yields: critical sections here are short, but a preempted holder
/// must not be spun on for a whole time slice.
class Backoff {
 public:
  void pause() noexcept {
    if (++spins_ < 64) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }

 private:
  unsigned spins_ = 0;
};

/// A small stable number per thread, used to pick a reader slot.
inline std::uint32_t thread_slot_seed() noexcept {
  static std::atomic<std::uint32_t> next{0};
  thread_local const std::uint32_t seed = next.fetch_add(1, std::memory_order_relaxed);
  return seed;
}

/// Readers announce themselves in one of several slots, each on its own cache line, so two
/// threads reading the same shard never write the same line (a shared_mutex's single reader
/// count would bounce between cores on every read). A writer raises a flag and waits until every
/// slot is empty. Readers back off while the flag is up, so writers are not starved.
///
/// Each slot also holds a short log of node indices read under it. Reads cannot reorder the
/// eviction policy's lists (they hold only the shared side), so they log the access and the
/// next writer replays the logs, in order, before it changes anything.
class ReadMostlyLock {
 public:
  static constexpr std::uint32_t log_capacity = 14;

  struct alignas(64) Slot {
    std::atomic<std::uint32_t> readers{0};
    std::atomic<std::uint32_t> logged{0};
    std::atomic<std::uint32_t> log[log_capacity];
  };
  static_assert(sizeof(Slot) == 64, "one reader slot per cache line");

  /// slot_count is rounded up to a power of two.
  explicit ReadMostlyLock(std::uint32_t slot_count) {
    std::uint32_t n = 1;
    while (n < slot_count) n <<= 1;
    slot_mask_ = n - 1;
    slots_ = std::make_unique<Slot[]>(n);
  }

  /// Enters the shared side; returns the slot to log into and to pass to unlock_shared.
  Slot& lock_shared() noexcept {
    Slot& slot = slots_[thread_slot_seed() & slot_mask_];
    for (;;) {
      // seq_cst on both sides (Dekker): the reader's increment and the writer's flag cannot both
      // miss each other.
      slot.readers.fetch_add(1, std::memory_order_seq_cst);
      if (!writer_.load(std::memory_order_seq_cst)) return slot;
      slot.readers.fetch_sub(1, std::memory_order_release);
      Backoff backoff;
      while (writer_.load(std::memory_order_acquire)) backoff.pause();
    }
  }
  static void unlock_shared(Slot& slot) noexcept {
    slot.readers.fetch_sub(1, std::memory_order_release);
  }

  /// Logs a read of node index under the shared side. Returns false when the log is full
  /// (the caller should then try to replay the logs itself, see try_lock()).
  static bool log_access(Slot& slot, std::uint32_t index) noexcept {
    const std::uint32_t at = slot.logged.fetch_add(1, std::memory_order_relaxed);
    if (at >= log_capacity) return false;
    slot.log[at].store(index, std::memory_order_relaxed);
    return true;
  }

  void lock() noexcept {
    writer_mutex_.lock();
    raise_flag_and_wait();
  }
  bool try_lock() noexcept {
    if (!writer_mutex_.try_lock()) return false;
    raise_flag_and_wait();
    return true;
  }
  void unlock() noexcept {
    writer_.store(false, std::memory_order_release);
    writer_mutex_.unlock();
  }

  /// Under the exclusive side: calls fn(index) for every logged read, oldest first within a
  /// slot, and empties the logs.
  template <class Fn>
  void drain_logs(Fn&& fn) {
    for (std::uint32_t s = 0; s <= slot_mask_; ++s) {
      Slot& slot = slots_[s];
      const std::uint32_t n = std::min(slot.logged.load(std::memory_order_relaxed), log_capacity);
      for (std::uint32_t i = 0; i < n; ++i) fn(slot.log[i].load(std::memory_order_relaxed));
      slot.logged.store(0, std::memory_order_relaxed);
    }
  }

 private:
  void raise_flag_and_wait() noexcept {
    writer_.store(true, std::memory_order_seq_cst);
    for (std::uint32_t s = 0; s <= slot_mask_; ++s) {
      Backoff backoff;
      // acquire pairs with the readers' release: their log writes are visible to drain_logs.
      while (slots_[s].readers.load(std::memory_order_seq_cst) != 0) backoff.pause();
    }
  }

  std::unique_ptr<Slot[]> slots_;
  std::uint32_t slot_mask_ = 0;
  alignas(64) std::atomic<bool> writer_{false};
  std::mutex writer_mutex_;
};

}  // namespace ttlcache::detail

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

/// A thread's slot number: the lowest one no live thread holds (returned at thread exit), so
/// up to 64 concurrent threads get distinct numbers and, while there are no more threads than
/// reader slots, never share a slot (a counter that only grows would pair threads up by
/// chance, e.g. a long-lived thread with every fourth short-lived one, and their reads would
/// then bounce one cache line between cores). Past 64 threads numbers are shared.
class ThreadSlotNumber {
 public:
  ThreadSlotNumber() noexcept : number_(acquire()) {}
  ~ThreadSlotNumber() {
    if (number_ < 64) taken().fetch_and(~(std::uint64_t{1} << number_), std::memory_order_release);
  }
  ThreadSlotNumber(const ThreadSlotNumber&) = delete;
  ThreadSlotNumber& operator=(const ThreadSlotNumber&) = delete;
  std::uint32_t number() const noexcept { return number_; }

 private:
  // Constant-initialised and trivially destructible: safe from any thread's exit, any time.
  static std::atomic<std::uint64_t>& taken() noexcept {
    static std::atomic<std::uint64_t> bits{0};
    return bits;
  }
  static std::uint32_t acquire() noexcept {
    std::atomic<std::uint64_t>& bits = taken();
    std::uint64_t now = bits.load(std::memory_order_relaxed);
    while (now != ~std::uint64_t{0}) {
      std::uint32_t free = 0;
      while ((now >> free) & 1U) ++free;
      if (bits.compare_exchange_weak(now, now | (std::uint64_t{1} << free),
                                     std::memory_order_acquire, std::memory_order_relaxed)) {
        return free;
      }
    }
    static std::atomic<std::uint32_t> overflow{0};
    return 64 + overflow.fetch_add(1, std::memory_order_relaxed);
  }

  std::uint32_t number_;
};

/// This thread's ThreadSlotNumber, made on first use (out of line: keeps readers small).
[[gnu::noinline]] inline std::uint32_t this_thread_slot_number() noexcept {
  thread_local const ThreadSlotNumber slot;
  return slot.number();
}

/// A small stable number per thread, used to pick a reader slot (see ThreadSlotNumber). A
/// trivially destructible cache of it, so the hot path is one thread-local load and a test.
inline std::uint32_t thread_slot_seed() noexcept {
  constexpr std::uint32_t unset = 0xffffffffU;
  thread_local std::uint32_t number = unset;
  if (number == unset) number = this_thread_slot_number();
  return number;
}

/// Readers announce themselves in one of several slots, each on its own cache line, so two
/// threads reading the same shard never write the same line (a shared_mutex's single reader
/// count would bounce between cores on every read). A writer raises a flag and waits until every
/// slot is empty. Readers back off while the flag is up, so writers are not starved.
///
/// Each slot also holds a short log of node indices read under it. Reads cannot reorder the
/// eviction policy's lists (they hold only the shared side), so they log the access and the
/// next writer replays the logs, in order, before it changes anything.
///
/// A reader whose log is full replays it without the writer flag (try_lock_replay(),
/// drain_log()): that excludes writers and other replayers but not readers, so readers never
/// wait for a replay; what a replay does must then touch nothing readers read (eviction order
/// only, no removals). If another thread holds the lock, the read is dropped from the log
/// instead: eviction order is approximate under concurrency by design (Caffeine's read buffer
/// is lossy too), never a correctness issue.
///
/// A slot's reader count and its count of claimed log positions share one 64-bit word, so
/// entering the shared side also claims the reader's log position: a logged read costs two
/// locked read-modify-writes (enter, leave) instead of three. Every lock_shared() must be
/// followed by exactly one log_access() or skip(), then unlock_shared().
class ReadMostlyLock {
 public:
  static constexpr std::uint32_t log_capacity = 14;
  /// A claimed log position that holds no read (the reader missed, or backed off).
  static constexpr std::uint32_t unused = 0xffffffffU;

  struct alignas(64) Slot {
    // Low 32 bits: readers inside; high 32 bits: log positions claimed since the last drain.
    std::atomic<std::uint64_t> state{0};
    std::atomic<std::uint32_t> log[log_capacity];
  };
  static_assert(sizeof(Slot) == 64, "one reader slot per cache line");

  /// A reader's pass: its slot and the log position it claimed on entry.
  struct Ticket {
    Slot* slot;
    std::uint32_t position;
  };

  /// slot_count is rounded up to a power of two.
  explicit ReadMostlyLock(std::uint32_t slot_count) {
    std::uint32_t n = 1;
    while (n < slot_count) n <<= 1;
    slot_mask_ = n - 1;
    slots_ = std::make_unique<Slot[]>(n);
  }

  /// Enters the shared side and claims a log position.
  Ticket lock_shared() noexcept {
    Slot& slot = slots_[thread_slot_seed() & slot_mask_];
    for (;;) {
      // seq_cst on both sides (Dekker): the reader's increment and the writer's flag cannot both
      // miss each other.
      const std::uint64_t before = slot.state.fetch_add(enter_and_claim, std::memory_order_seq_cst);
      const Ticket ticket{&slot, static_cast<std::uint32_t>(before >> 32)};
      if (!writer_.load(std::memory_order_seq_cst)) return ticket;
      // Backing off: the claimed position must not replay a stale index. (If the writer has
      // already read it, it replays one stale read at worst: indices are checked for liveness
      // and an extra access only nudges the eviction order.)
      skip(ticket);
      slot.state.fetch_sub(1, std::memory_order_release);
      Backoff backoff;
      while (writer_.load(std::memory_order_acquire)) backoff.pause();
    }
  }
  static void unlock_shared(const Ticket& ticket) noexcept {
    ticket.slot->state.fetch_sub(1, std::memory_order_release);
  }

  /// Logs a read of node index at the ticket's position. Returns false when the log was already
  /// full (the caller should then try to replay the logs itself, see try_lock()).
  static bool log_access(const Ticket& ticket, std::uint32_t index) noexcept {
    if (ticket.position >= log_capacity) return false;
    ticket.slot->log[ticket.position].store(index, std::memory_order_relaxed);
    return true;
  }
  /// Marks the ticket's position as holding no read (a miss, or a read the policy ignores).
  static void skip(const Ticket& ticket) noexcept {
    if (ticket.position < log_capacity) {
      ticket.slot->log[ticket.position].store(unused, std::memory_order_relaxed);
    }
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

  /// The replay lock: excludes writers and other replayers, while readers carry on. Only
  /// try: a reader that cannot have it at once drops its read instead of waiting.
  bool try_lock_replay() noexcept { return writer_mutex_.try_lock(); }
  void unlock_replay() noexcept { writer_mutex_.unlock(); }

  /// Under the replay lock (readers may be inside): calls fn(index) for the reads logged in the
  /// ticket's slot, oldest first, and empties it. Lossy where a slot is shared by threads: a
  /// read claimed but not yet written may be skipped, or an earlier index seen in its place
  /// (indices must be checked for liveness, as always).
  template <class Fn>
  static void drain_log(const Ticket& ticket, Fn&& fn) {
    Slot& slot = *ticket.slot;
    // acquire pairs with the readers' release on leaving: their log writes are visible.
    const auto claimed =
        static_cast<std::uint32_t>(slot.state.load(std::memory_order_acquire) >> 32);
    const std::uint32_t n = std::min(claimed, log_capacity);
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t index = slot.log[i].load(std::memory_order_relaxed);
      if (index != unused) fn(index);
    }
    slot.state.fetch_and(reader_mask, std::memory_order_relaxed);
  }

  /// Under the exclusive side: calls fn(index) for every logged read, oldest first within a
  /// slot, and empties the logs.
  template <class Fn>
  void drain_logs(Fn&& fn) {
    for (std::uint32_t s = 0; s <= slot_mask_; ++s) {
      Slot& slot = slots_[s];
      const auto claimed =
          static_cast<std::uint32_t>(slot.state.load(std::memory_order_relaxed) >> 32);
      const std::uint32_t n = std::min(claimed, log_capacity);
      for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint32_t index = slot.log[i].load(std::memory_order_relaxed);
        if (index != unused) fn(index);
      }
      // Clears the claims only: a reader backing off may be counted in the low half.
      slot.state.fetch_and(reader_mask, std::memory_order_relaxed);
    }
  }

 private:
  void raise_flag_and_wait() noexcept {
    writer_.store(true, std::memory_order_seq_cst);
    for (std::uint32_t s = 0; s <= slot_mask_; ++s) {
      Backoff backoff;
      // acquire pairs with the readers' release: their log writes are visible to drain_logs.
      while ((slots_[s].state.load(std::memory_order_seq_cst) & reader_mask) != 0) backoff.pause();
    }
  }

  static constexpr std::uint64_t enter_and_claim = (std::uint64_t{1} << 32) | 1U;
  static constexpr std::uint64_t reader_mask = 0xffffffffULL;

  // What every reader reads shares one cache line; the mutex, written by every replay, has
  // its own, so replays do not evict it from the other readers' caches.
  alignas(64) std::unique_ptr<Slot[]> slots_;
  std::uint32_t slot_mask_ = 0;
  std::atomic<bool> writer_{false};
  alignas(64) std::mutex writer_mutex_;
};

}  // namespace ttlcache::detail

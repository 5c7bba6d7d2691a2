// The two-process scenario's shared parts: the run control both processes map, and the
// convergence check each runs once the writers stop.
// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>

#include "chaos/chaos_support.hpp"

namespace ttlcache_chaos {

/// What the peer process saw, written into the shared control block before it exits.
struct PeerReport {
  std::uint64_t calls[3];
  std::uint64_t exceptions[3];
  std::uint64_t loads[3];
  std::uint64_t stale_reads;
  std::uint64_t writer_exceptions;
  double hit_rate[3];
  double worst_staleness_ms;
  double max_fault_ms;
  double converged_ms;  ///< -1: did not converge in time
  char converge_detail[200];
  char first_exception[200];
};

/// Lives in a file both processes map (lock-free atomics and plain data only).
struct RunControl {
  std::atomic<int> phase;         ///< Phase, set by the test
  std::atomic<int> stop;          ///< 1: the test's writers have stopped; stop yours
  std::atomic<int> ready;         ///< 1: the peer's cache is built and its workload runs
  std::atomic<int> peer_stopped;  ///< 1: the peer's writers have stopped
  std::atomic<int> done;          ///< 1: the report is written
  PeerReport report;
};
static_assert(std::atomic<int>::is_always_lock_free, "shared across processes");

/// Reads every key through the cache until each answers the database's version (no writer is
/// left); returns the time that took in ms, or -1 when `limit` passed first. `detail` tells
/// what the last pass found wrong.
inline double converge(Cache& cache, const Database& db, std::chrono::milliseconds limit,
                       std::string* detail = nullptr) {
  const auto start = SteadyClock::now();
  while (SteadyClock::now() - start < limit) {
    int wrong = 0;
    std::string first;
    for (int k = 0; k < db.size(); ++k) {
      try {
        const std::string v = cache.get_or_load(
            Database::key(k), [&] { return db.value(k); }, std::chrono::seconds(60),
            Database::tags(k));
        if (Database::version_of(v) != db.version(k)) {
          if (wrong++ == 0) first = v + " where the database has " + db.value(k);
        }
      } catch (const std::exception& e) {
        if (wrong++ == 0) first = std::string("exception: ") + e.what();
      }
    }
    if (wrong == 0) return ms_between(start, SteadyClock::now());
    if (detail) *detail = std::to_string(wrong) + " key(s) wrong, e.g. " + first;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

/// Waits (bounded) until the flag is 1.
inline bool wait_flag(const std::atomic<int>& flag, std::chrono::milliseconds limit) {
  return wait_for([&] { return flag.load() == 1; }, limit) >= 0;
}

}  // namespace ttlcache_chaos

// Helpers of the paired benchmarks (bench_eviction, bench_stats): CPU time of a batch run on
// one or several threads started together, and percentiles of per-pair ratios.
// SPDX-License-Identifier: MIT
#pragma once

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <thread>
#include <vector>

namespace ttlcache_bench {

/// CPU time of the calling thread: other processes on the shared cores do not count.
inline double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

/// Runs work(cursor) on `threads` threads at once (one cursor each, started together so they
/// contend) and returns CPU ns per operation. work(cursor) does `per_thread` operations and
/// returns the CPU ns they took (timed inside, so the timed loop is the caller's own code).
template <class Cursor, class Work>
double cpu_ns_per_op(Work&& work, std::size_t per_thread, int threads,
                     std::vector<Cursor>& cursors) {
  if (threads == 1) return work(cursors[0]) / static_cast<double>(per_thread);
  std::atomic<int> ready{0};
  std::vector<double> spent(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  pool.reserve(spent.size());
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < threads) std::this_thread::yield();
      spent[static_cast<std::size_t>(t)] = work(cursors[static_cast<std::size_t>(t)]);
    });
  }
  for (auto& th : pool) th.join();
  double total = 0;
  for (const double s : spent) total += s;
  return total / static_cast<double>(per_thread * spent.size());
}

/// The p-th percentile (0..1) of v, nearest rank.
inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(std::lround(p * static_cast<double>(v.size() - 1)))];
}

}  // namespace ttlcache_bench

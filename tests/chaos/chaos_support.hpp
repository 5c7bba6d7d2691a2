// The chaos suite's measuring tools: a versioned source of truth, per-phase figures, workers.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "chaos/configs.hpp"

namespace ttlcache_chaos {

using SteadyClock = std::chrono::steady_clock;

inline double ms_between(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

/// The source of truth: each key has a version, and the time each version was written, so a
/// read can tell how stale its answer was. Values are "<key>|<version>".
class Database {
 public:
  explicit Database(int keys) : entries_(static_cast<std::size_t>(keys)) {
    const auto now = SteadyClock::now();
    for (auto& e : entries_) e.writes.push_back(now);
  }
  static std::string key(int k) { return "item:" + std::to_string(k); }
  static ttlcache::Tags tags(int k) { return ttlcache::Tags{"group:" + std::to_string(k % 8)}; }
  int size() const { return static_cast<int>(entries_.size()); }

  std::string value(int k) {
    Entry& e = at(k);
    std::lock_guard<std::mutex> lock(e.mutex);
    return key(k) + "|" + std::to_string(e.writes.size() - 1);
  }
  /// A new version of k; returns its value.
  std::string write(int k) {
    Entry& e = at(k);
    std::lock_guard<std::mutex> lock(e.mutex);
    e.writes.push_back(SteadyClock::now());
    return key(k) + "|" + std::to_string(e.writes.size() - 1);
  }
  /// How long before `started` the value read was already replaced (0: it was current).
  double staleness_ms(int k, const std::string& value, SteadyClock::time_point started) {
    const auto bar = value.rfind('|');
    if (bar == std::string::npos) return 0;
    const std::size_t version = std::stoul(value.substr(bar + 1));
    Entry& e = at(k);
    std::lock_guard<std::mutex> lock(e.mutex);
    if (version + 1 >= e.writes.size()) return 0;
    return std::max(0.0, ms_between(e.writes[version + 1], started));
  }

 private:
  struct Entry {
    std::mutex mutex;
    std::vector<SteadyClock::time_point> writes;  // writes[v]: when version v was written
  };
  Entry& at(int k) { return entries_[static_cast<std::size_t>(k)]; }
  std::deque<Entry> entries_;
};

enum Phase : int { before = 0, fault = 1, after = 2 };

/// What the callers saw in one phase.
struct PhaseFigures {
  std::uint64_t calls = 0;
  std::uint64_t exceptions = 0;
  std::uint64_t loads = 0;  ///< calls whose loader ran (the source of truth was asked)
  std::uint64_t stale_reads = 0;
  double worst_staleness_ms = 0;
  std::vector<float> latencies_ms;
  std::string first_exception;

  void merge(const PhaseFigures& o) {
    calls += o.calls;
    exceptions += o.exceptions;
    loads += o.loads;
    stale_reads += o.stale_reads;
    worst_staleness_ms = std::max(worst_staleness_ms, o.worst_staleness_ms);
    latencies_ms.insert(latencies_ms.end(), o.latencies_ms.begin(), o.latencies_ms.end());
    if (first_exception.empty()) first_exception = o.first_exception;
  }
  /// Share of calls answered from the cache (no load, no exception).
  double hit_rate() const {
    return calls == 0 ? 0.0 : static_cast<double>(calls - loads - exceptions) / calls;
  }
  double percentile(double p) {
    if (latencies_ms.empty()) return 0;
    std::sort(latencies_ms.begin(), latencies_ms.end());
    const auto i = static_cast<std::size_t>(p * static_cast<double>(latencies_ms.size() - 1));
    return latencies_ms[i];
  }
  double max_ms() const {
    return latencies_ms.empty() ? 0 : *std::max_element(latencies_ms.begin(), latencies_ms.end());
  }
  std::uint64_t slower_than(double ms) const {
    return static_cast<std::uint64_t>(
        std::count_if(latencies_ms.begin(), latencies_ms.end(), [ms](float v) { return v > ms; }));
  }
};

/// Runs reader and writer threads over caches, and keeps the figures per phase.
class Workload {
 public:
  explicit Workload(Database& db) : db_(db) {}
  ~Workload() { stop(); }
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  void set_phase(Phase p) { phase_.store(p); }

  /// A reader: get_or_load of random keys (with tags unless `tagged` is false), staleness
  /// checked against the database.
  void add_reader(Cache& cache, unsigned seed, bool tagged = true) {
    const int keys = db_.size();
    threads_.emplace_back([this, &cache, seed, keys, tagged] {
      std::mt19937 rng(seed);
      PhaseFigures local[3];
      while (!stop_.load()) {
        const int k = static_cast<int>(rng() % static_cast<unsigned>(keys));
        const int phase = phase_.load();
        bool loaded = false;
        const auto started = SteadyClock::now();
        try {
          const auto loader = [&] {
            loaded = true;
            return db_.value(k);
          };
          const std::string v =
              tagged ? cache.get_or_load(Database::key(k), loader, std::chrono::seconds(60),
                                         Database::tags(k))
                     : cache.get_or_load(Database::key(k), loader, std::chrono::seconds(60));
          const double stale = db_.staleness_ms(k, v, started);
          if (stale > 0) {
            ++local[phase].stale_reads;
            local[phase].worst_staleness_ms = std::max(local[phase].worst_staleness_ms, stale);
          }
        } catch (const std::exception& e) {
          ++local[phase].exceptions;
          if (local[phase].first_exception.empty()) local[phase].first_exception = e.what();
        }
        ++local[phase].calls;
        if (loaded) ++local[phase].loads;
        local[phase].latencies_ms.push_back(
            static_cast<float>(ms_between(started, SteadyClock::now())));
        std::this_thread::sleep_for(std::chrono::microseconds(300));  // a shared 2-core box
      }
      std::lock_guard<std::mutex> lock(mutex_);
      for (int p = 0; p < 3; ++p) figures_[p].merge(local[p]);
    });
  }

  /// A writer: updates the database, then the cache (set with tags), every `every`.
  void add_writer(Cache& cache, unsigned seed, std::chrono::milliseconds every) {
    const int keys = db_.size();
    threads_.emplace_back([this, &cache, seed, every, keys] {
      std::mt19937 rng(seed);
      std::uint64_t failed = 0;
      while (!stop_.load()) {
        const int k = static_cast<int>(rng() % static_cast<unsigned>(keys));
        const std::string v = db_.write(k);
        try {
          cache.set(Database::key(k), v, std::chrono::seconds(60), Database::tags(k));
        } catch (const std::exception&) {
          ++failed;
        }
        std::this_thread::sleep_for(every);
      }
      writer_exceptions_.fetch_add(failed);
    });
  }

  void stop() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

  PhaseFigures& figures(Phase p) { return figures_[p]; }
  std::uint64_t writer_exceptions() const { return writer_exceptions_.load(); }

 private:
  Database& db_;
  std::atomic<int> phase_{before};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  PhaseFigures figures_[3];
  std::atomic<std::uint64_t> writer_exceptions_{0};
};

/// Waits (bounded) until ready() holds; returns the time it took in ms, or -1 on timeout.
inline double wait_for(const std::function<bool()>& ready, std::chrono::milliseconds limit) {
  const auto start = SteadyClock::now();
  while (SteadyClock::now() - start < limit) {
    if (ready()) return ms_between(start, SteadyClock::now());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

}  // namespace ttlcache_chaos

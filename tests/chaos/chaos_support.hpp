// The chaos suite's measuring tools: a versioned source of truth, per-phase figures, workers.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "chaos/configs.hpp"

namespace ttlcache_chaos {

using SteadyClock = std::chrono::steady_clock;

inline double ms_between(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

/// A block of memory: private to this process, or a file mapped by several processes (the
/// two-process scenario shares its source of truth and run control this way). Only lock-free
/// atomics and plain integers live in it, so it works across processes.
class SharedMemory {
 public:
  /// Private, zero-filled memory.
  explicit SharedMemory(std::size_t bytes) : size_(bytes) {
    base_ = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base_ == MAP_FAILED) throw std::runtime_error("chaos: mmap of private memory failed");
  }
  /// The file at `path`, created zero-filled with `bytes` when `create`, else opened as is.
  SharedMemory(const std::string& path, std::size_t bytes, bool create) : size_(bytes) {
    const int fd = ::open(path.c_str(), create ? (O_RDWR | O_CREAT | O_TRUNC) : O_RDWR, 0600);
    if (fd < 0) throw std::runtime_error("chaos: cannot open " + path);
    if (create && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
      ::close(fd);
      throw std::runtime_error("chaos: cannot size " + path);
    }
    base_ = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (base_ == MAP_FAILED) throw std::runtime_error("chaos: cannot map " + path);
  }
  ~SharedMemory() { ::munmap(base_, size_); }
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  void* data() const { return base_; }

 private:
  void* base_ = nullptr;
  std::size_t size_ = 0;
};

/// The source of truth: each key has a version, and the time each version was written, so a
/// read can tell how stale its answer was. Values are "<key>|<version>". Times are
/// steady_clock (CLOCK_MONOTONIC), the same in every process of the machine.
class Database {
 public:
  /// In this process only.
  explicit Database(int keys) : Database(keys, std::make_unique<SharedMemory>(bytes_for(keys))) {
    stamp_initial();
  }
  /// Shared through the file at `path` with other processes: one creates it, the others open.
  Database(int keys, const std::string& path, bool create)
      : Database(keys, std::make_unique<SharedMemory>(path, bytes_for(keys), create)) {
    if (create) stamp_initial();
  }

  static std::string key(int k) { return "item:" + std::to_string(k); }
  static ttlcache::Tags tags(int k) { return ttlcache::Tags{"group:" + std::to_string(k % 8)}; }
  int size() const { return keys_; }

  std::string value(int k) const { return format(k, at(k).version.load()); }
  std::uint64_t version(int k) const { return at(k).version.load(); }
  static std::uint64_t version_of(const std::string& value) {
    const auto bar = value.rfind('|');
    return bar == std::string::npos ? 0 : std::stoull(value.substr(bar + 1));
  }

  /// A new version of k; returns its value.
  std::string write(int k) {
    return write(k, [](const std::string&) {});
  }
  /// A new version of k, then publish(value) while no other writer (of any process) can write
  /// k: so that the cache receives the versions of a key in the order they were made.
  template <class Publish>
  std::string write(int k, Publish&& publish) {
    Slot& e = at(k);
    const auto limit = SteadyClock::now() + std::chrono::seconds(10);
    while (e.lock.exchange(1, std::memory_order_acquire) != 0) {
      if (SteadyClock::now() > limit)
        throw std::runtime_error("chaos: a key's writer lock is stuck");
      std::this_thread::yield();
    }
    struct Unlock {
      Slot& e;
      ~Unlock() { e.lock.store(0, std::memory_order_release); }
    } unlock{e};
    const std::uint64_t v = e.version.load() + 1;
    e.written_ns[v % ring].store(now_ns());
    e.version.store(v);
    std::string value = format(k, v);
    publish(value);
    return value;
  }

  /// How long before `started` the value read was already replaced (0: it was current). Never
  /// blocks (a reader's measured call time must not include a writer's).
  double staleness_ms(int k, const std::string& value, SteadyClock::time_point started) const {
    if (value.rfind('|') == std::string::npos) return 0;
    const std::uint64_t v = version_of(value);
    const Slot& e = at(k);
    const std::uint64_t current = e.version.load();
    if (v >= current) return 0;
    // The write that replaced v; when it left the ring, the oldest one kept (a lower bound).
    const std::uint64_t next = current - v >= ring ? current - ring + 1 : v + 1;
    const auto replaced = SteadyClock::time_point(
        SteadyClock::duration(std::chrono::nanoseconds(e.written_ns[next % ring].load())));
    return std::max(0.0, ms_between(replaced, started));
  }

 private:
  static constexpr std::uint64_t ring = 256;  // write times kept per key
  struct Slot {
    std::atomic<std::uint32_t> lock;
    std::atomic<std::uint64_t> version;
    std::atomic<std::int64_t> written_ns[ring];  // [v % ring]: when version v was written
  };
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "shared across processes");
  static_assert(std::is_trivially_destructible<Slot>::value, "lives in mapped memory");

  Database(int keys, std::unique_ptr<SharedMemory> memory)
      : keys_(keys), memory_(std::move(memory)), slots_(static_cast<Slot*>(memory_->data())) {}
  static std::size_t bytes_for(int keys) { return sizeof(Slot) * static_cast<std::size_t>(keys); }
  static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               SteadyClock::now().time_since_epoch())
        .count();
  }
  static std::string format(int k, std::uint64_t v) { return key(k) + "|" + std::to_string(v); }
  void stamp_initial() {
    for (int k = 0; k < keys_; ++k) at(k).written_ns[0].store(now_ns());
  }
  Slot& at(int k) { return slots_[static_cast<std::size_t>(k)]; }
  const Slot& at(int k) const { return slots_[static_cast<std::size_t>(k)]; }

  int keys_;
  std::unique_ptr<SharedMemory> memory_;
  Slot* slots_;  // zero-filled memory is a valid Slot (atomics of lock-free integers)
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

  /// A writer: updates the database, then the cache (set, with tags unless `tagged` is false),
  /// every `every`. With
  /// `serialized`, the cache write happens under the key's writer lock (several writers, in
  /// several processes, of the same keys: the cache gets each key's versions in order).
  void add_writer(Cache& cache, unsigned seed, std::chrono::milliseconds every,
                  bool serialized = false, bool tagged = true) {
    const int keys = db_.size();
    threads_.emplace_back([this, &cache, seed, every, keys, serialized, tagged] {
      std::mt19937 rng(seed);
      std::uint64_t failed = 0;
      const auto set = [&](int k, const std::string& v) {
        try {
          if (tagged) {
            cache.set(Database::key(k), v, std::chrono::seconds(60), Database::tags(k));
          } else {
            cache.set(Database::key(k), v, std::chrono::seconds(60));
          }
        } catch (const std::exception&) {
          ++failed;
        }
      };
      while (!stop_.load()) {
        const int k = static_cast<int>(rng() % static_cast<unsigned>(keys));
        if (serialized) {
          db_.write(k, [&](const std::string& v) { set(k, v); });
        } else {
          set(k, db_.write(k));
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

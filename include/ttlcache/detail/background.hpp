// Background loading support: a small worker pool and the shared state of a load that callers
// may stop waiting for (soft/hard timeouts) while it runs on.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace ttlcache::detail {

/// A fixed pool of threads started on first submit. The destructor lets running tasks finish
/// and drops queued ones (background refreshes and loads nobody waits for any more).
class WorkerPool {
 public:
  explicit WorkerPool(std::size_t threads) : size_(threads == 0 ? 1 : threads) {}
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      queue_.clear();
    }
    ready_.notify_all();
    for (auto& t : threads_) t.join();
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void submit(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      queue_.push_back(std::move(task));
      if (threads_.size() < size_ && idle_ == 0) threads_.emplace_back([this] { work(); });
    }
    ready_.notify_one();
  }

 private:
  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      ++idle_;
      ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      --idle_;
      if (stopping_) return;
      auto task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      try {
        task();
      } catch (...) {  // tasks report their own errors; one must not kill the worker
      }
      lock.lock();
    }
  }

  const std::size_t size_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;
  bool stopping_ = false;
};

/// The outcome of one background load, waited for with deadlines.
template <class V>
class PendingLoad {
 public:
  /// The write epoch when its load began (LoadShared::write_epoch): a caller that has seen a
  /// newer one starts a load of its own instead of joining this one. Set before publication.
  std::uint64_t epoch = 0;

  void succeed(V value) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      value_.emplace(std::move(value));
      done_ = true;
    }
    cv_.notify_all();
  }
  void fail(std::exception_ptr error) noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::move(error);
      done_ = true;
    }
    cv_.notify_all();
  }
  /// true once finished; waits at most timeout (forever when timeout is zero).
  bool wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (timeout.count() <= 0) {
      cv_.wait(lock, [&] { return done_; });
      return true;
    }
    return cv_.wait_for(lock, timeout, [&] { return done_; });
  }
  /// After wait_for returned true: the value, or the load's exception rethrown.
  V get() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (error_) std::rethrow_exception(error_);
    return *value_;
  }
  bool failed() {
    std::lock_guard<std::mutex> lock(mutex_);
    return done_ && error_ != nullptr;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::optional<V> value_;
  std::exception_ptr error_;
};

}  // namespace ttlcache::detail

// A gate tests open at a chosen moment, to release threads blocked in wait() (slow loaders).
// SPDX-License-Identifier: MIT
#pragma once

#include <condition_variable>
#include <mutex>

namespace ttlcache_test {

class Gate {
 public:
  void open() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

}  // namespace ttlcache_test

// The lock interface the distributed single-flight load uses; Redis implements it
// (ttlcache/redis/lock.hpp), and MemoryLockService serves one process and tests.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ttlcache {

/// A lock held for a lease. The lease can run out while the holder is paused (a GC-like stall,
/// a stopped process): a lock is then free for another holder, so work guarded by it must stay
/// safe to run twice. release() and extend() act only while this holder still owns the lock.
class LockLease {
 public:
  virtual ~LockLease() = default;
  /// Gives the lock up; false when it had already expired or passed to another holder.
  virtual bool release() = 0;
  /// Sets the remaining lease to lease; false when this holder no longer owns the lock.
  virtual bool extend(std::chrono::milliseconds lease) = 0;
};

/// Hands out named locks. Thread-safe.
class LockService {
 public:
  virtual ~LockService() = default;
  /// One attempt, no waiting: the lease, or null when another holder has the lock.
  /// Throws backend_error when the service cannot be reached.
  virtual std::unique_ptr<LockLease> try_lock(std::string_view name,
                                              std::chrono::milliseconds lease) = 0;
};

/// Locks within one process (leases measured on the steady clock). For a single instance and
/// for tests of code written against LockService.
class MemoryLockService final : public LockService,
                                public std::enable_shared_from_this<MemoryLockService> {
 public:
  std::unique_ptr<LockLease> try_lock(std::string_view name,
                                      std::chrono::milliseconds lease) override {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mutex_);
    auto& held = held_[std::string(name)];
    if (held.token != 0 && held.until > now) return nullptr;
    held.token = ++next_token_;
    held.until = now + lease;
    return std::make_unique<Lease>(shared_from_this(), std::string(name), held.token);
  }

 private:
  struct Held {
    unsigned long long token = 0;
    std::chrono::steady_clock::time_point until;
  };
  class Lease final : public LockLease {
   public:
    Lease(std::shared_ptr<MemoryLockService> owner, std::string name, unsigned long long token)
        : owner_(std::move(owner)), name_(std::move(name)), token_(token) {}
    ~Lease() override { release(); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    bool release() override {
      std::lock_guard<std::mutex> lock(owner_->mutex_);
      const auto it = owner_->held_.find(name_);
      if (it == owner_->held_.end() || it->second.token != token_ ||
          it->second.until <= std::chrono::steady_clock::now()) {
        return false;
      }
      owner_->held_.erase(it);
      return true;
    }
    bool extend(std::chrono::milliseconds lease) override {
      const auto now = std::chrono::steady_clock::now();
      std::lock_guard<std::mutex> lock(owner_->mutex_);
      const auto it = owner_->held_.find(name_);
      if (it == owner_->held_.end() || it->second.token != token_ || it->second.until <= now) {
        return false;
      }
      it->second.until = now + lease;
      return true;
    }

   private:
    std::shared_ptr<MemoryLockService> owner_;
    std::string name_;
    unsigned long long token_;
  };

  std::mutex mutex_;
  std::unordered_map<std::string, Held> held_;
  unsigned long long next_token_ = 0;
};

}  // namespace ttlcache

// The connection pool: bounded, waits with a deadline, health-checks idle connections,
// and reconnects with capped exponential backoff.
// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "connection.hpp"
#include "ttlcache/redis/options.hpp"

namespace ttlcache::redis::detail {

/// Commands every connection of a pool runs once before it is lent out, e.g. CLIENT TRACKING
/// for the near cache (tracking.cpp). A new set() gets a new epoch: connections set up under
/// an older one run the new commands before their next use. Thread-safe.
class SessionSetup {
 public:
  struct Commands {
    std::uint64_t epoch = 0;
    std::vector<std::vector<std::string>> commands;
  };
  void set(std::vector<std::vector<std::string>> commands) {
    auto next = std::make_shared<Commands>();
    next->commands = std::move(commands);
    std::lock_guard<std::mutex> lock(mutex_);
    next->epoch = (current_ ? current_->epoch : 0) + 1;
    current_ = std::move(next);
  }
  std::shared_ptr<const Commands> current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return current_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Commands> current_;
};

class ConnectionPool {
 public:
  /// A borrowed connection, returned to the pool (or discarded if broken) on destruction.
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> connection) noexcept
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (connection_) pool_->release(std::move(connection_));
    }
    Connection* operator->() const noexcept { return connection_.get(); }
    Connection& operator*() const noexcept { return *connection_; }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  struct Counters {
    std::uint64_t connects = 0;
    std::uint64_t connect_failures = 0;
    std::uint64_t discarded = 0;
    std::uint64_t pool_timeouts = 0;
    std::size_t open = 0;
    std::size_t idle = 0;
  };

  /// options must outlive the pool (the store owns both).
  ConnectionPool(const RedisOptions& options, std::string endpoint);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  /// An idle connection (PINGed first if idle longer than health_check_after), else a new one
  /// if the pool is not full, else waits up to pool_wait_timeout. Throws timeout_error when
  /// none came free, connection_error/timeout_error when connecting failed or is in backoff;
  /// op names the caller's operation in those messages.
  Lease acquire(const Op& op);

  const std::string& endpoint() const noexcept { return endpoint_; }
  Counters counters() const;
  /// Installs (or, with null, removes) the commands connections run before they are lent.
  void set_session_setup(std::shared_ptr<const SessionSetup> setup);

 private:
  void release(std::unique_ptr<Connection> connection) noexcept;
  // Runs the session commands on connection if its epoch is behind. A failed connection is
  // discarded (false); an error reply leaves it lent but not set up (tried again next time).
  bool prepare(Connection& connection);
  // Under mutex_: a connection is gone, forget its epoch.
  void forget(const Connection* connection) noexcept { epochs_.erase(connection); }

  const RedisOptions& options_;
  const std::string endpoint_;

  mutable std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;  // most recently used at the back
  std::size_t open_ = 0;                           // idle + leased + being opened

  // Reconnect backoff: after a failed connect no new connect starts before retry_at_, and
  // while one attempt is under way (probing_) the others fail fast instead of piling up.
  unsigned consecutive_failures_ = 0;
  bool probing_ = false;
  std::chrono::steady_clock::time_point retry_at_{};
  std::string last_failure_;
  std::minstd_rand jitter_;

  Counters counters_;

  std::atomic<bool> has_setup_{false};         // the hot path skips prepare() without a set-up
  std::shared_ptr<const SessionSetup> setup_;  // guarded by mutex_
  std::unordered_map<const Connection*, std::uint64_t> epochs_;  // set up under; guarded by mutex_
};

}  // namespace ttlcache::redis::detail

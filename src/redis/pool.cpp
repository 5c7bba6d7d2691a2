// Connection pool: lending, health checks, discarding broken connections, reconnect backoff.
// SPDX-License-Identifier: MIT
#include "pool.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "ttlcache/deadline.hpp"
#include "ttlcache/errors.hpp"

namespace ttlcache::redis::detail {

using Clock = std::chrono::steady_clock;

ConnectionPool::ConnectionPool(const RedisOptions& options, std::string endpoint)
    : options_(options),
      endpoint_(std::move(endpoint)),
      jitter_(static_cast<std::minstd_rand::result_type>(Clock::now().time_since_epoch().count() &
                                                         0x7fffffff)) {}

ConnectionPool::~ConnectionPool() = default;

ConnectionPool::Lease ConnectionPool::acquire(const Op& op) {
  // Inside a cache call with a deadline (deadline.hpp), waiting for a connection uses its budget.
  const auto deadline = Clock::now() + ttlcache::remaining_budget(options_.pool_wait_timeout);
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      const bool fresh = Clock::now() - connection->last_used() <= options_.health_check_after;
      if (fresh && !has_setup_.load(std::memory_order_acquire)) {
        return Lease(this, std::move(connection));
      }
      lock.unlock();
      const bool healthy = (fresh || connection->ping()) && prepare(*connection);
      if (healthy) return Lease(this, std::move(connection));
      lock.lock();
      forget(connection.get());
      --open_;
      ++counters_.discarded;
      lock.unlock();
      connection.reset();  // closes the socket outside the lock
      lock.lock();
      continue;
    }

    if (open_ < options_.pool_size) {
      const auto now = Clock::now();
      if (consecutive_failures_ > 0 && (probing_ || now < retry_at_)) {
        const auto wait_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now).count();
        std::string reason = fmt::format(
            "server unreachable after {} failed connect attempt{} (last: {}); {}",
            consecutive_failures_, consecutive_failures_ == 1 ? "" : "s", last_failure_,
            probing_ ? "a reconnect attempt is under way"
                     : fmt::format("next attempt in {} ms", std::max<long long>(wait_ms, 0)));
        lock.unlock();
        throw_failure(Failure::refused, op, endpoint_, reason);
      }
      ++open_;
      const bool probe = consecutive_failures_ > 0;
      if (probe) probing_ = true;
      lock.unlock();

      Connection::OpenResult opened;
      try {
        opened = Connection::open(options_);
      } catch (...) {
        lock.lock();
        --open_;
        if (probe) probing_ = false;
        available_.notify_one();
        throw;
      }

      lock.lock();
      if (probe) probing_ = false;
      if (opened.connection) {
        consecutive_failures_ = 0;
        ++counters_.connects;
        if (!has_setup_.load(std::memory_order_acquire)) {
          return Lease(this, std::move(opened.connection));
        }
        lock.unlock();
        if (prepare(*opened.connection)) return Lease(this, std::move(opened.connection));
        const Failure failure = opened.connection->failure();
        const std::string reason = opened.connection->failure_text();
        lock.lock();
        forget(opened.connection.get());
        --open_;
        ++counters_.discarded;
        available_.notify_one();
        lock.unlock();
        opened.connection.reset();
        throw_failure(failure, op, endpoint_, reason);
      }
      --open_;
      ++counters_.connect_failures;
      ++consecutive_failures_;
      // Capped exponential backoff with up to 25% jitter, so that many service instances
      // that lost the same server do not reconnect in lockstep.
      const unsigned shift = std::min(consecutive_failures_ - 1, 20U);
      std::chrono::milliseconds backoff = std::min<std::chrono::milliseconds>(
          options_.reconnect_backoff_initial * (1LL << shift), options_.reconnect_backoff_max);
      backoff += std::chrono::milliseconds(
          std::uniform_int_distribution<long long>(0, backoff.count() / 4)(jitter_));
      retry_at_ = Clock::now() + backoff;
      last_failure_ = opened.reason;
      available_.notify_one();
      lock.unlock();
      opened.connection.reset();
      throw_failure(opened.failure, op, endpoint_, opened.reason);
    }

    const bool woken = available_.wait_until(
        lock, deadline, [this] { return !idle_.empty() || open_ < options_.pool_size; });
    if (!woken) {
      ++counters_.pool_timeouts;
      const std::size_t size = options_.pool_size;
      lock.unlock();
      throw timeout_error(
          "redis", fmt::format("{} on {} failed: no pooled connection came free within {} ms "
                               "(pool_wait_timeout; all {} connection{} in use)",
                               describe(op), endpoint_, options_.pool_wait_timeout.count(), size,
                               size == 1 ? "" : "s"));
    }
  }
}

void ConnectionPool::release(std::unique_ptr<Connection> connection) noexcept {
  std::vector<std::unique_ptr<Connection>> stale;
  bool freed_several = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!connection->broken()) {
      connection->touch();
      idle_.push_back(std::move(connection));
    } else {
      forget(connection.get());
      --open_;
      ++counters_.discarded;
      // A lost connection (reset, closed by the server) means the idle ones are most likely
      // dead too: drop them now rather than fail one caller per stale connection. A timeout
      // says nothing about the others, so they stay.
      if (connection->failure() == Failure::lost) {
        open_ -= idle_.size();
        counters_.discarded += idle_.size();
        for (const auto& idle : idle_) forget(idle.get());
        stale.swap(idle_);
        freed_several = !stale.empty();
      }
    }
  }
  if (freed_several) {
    available_.notify_all();
  } else {
    available_.notify_one();
  }
  // Sockets are closed outside the lock.
  connection.reset();
  stale.clear();
}

void ConnectionPool::set_session_setup(std::shared_ptr<const SessionSetup> setup) {
  std::lock_guard<std::mutex> lock(mutex_);
  has_setup_.store(setup != nullptr, std::memory_order_release);
  setup_ = std::move(setup);
}

bool ConnectionPool::prepare(Connection& connection) {
  std::shared_ptr<const SessionSetup::Commands> commands;
  std::uint64_t applied = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (setup_) commands = setup_->current();
    const auto it = epochs_.find(&connection);
    if (it != epochs_.end()) applied = it->second;
  }
  if (!commands || commands->epoch == applied) return true;
  // One pipeline: the set-up costs one round trip, paid once per connection and epoch.
  Args args;
  for (const auto& command : commands->commands) {
    args.clear();
    for (const auto& word : command) args.add(word);
    if (!connection.append(args)) return false;
  }
  bool all_ok = true;
  for (std::size_t i = 0; i < commands->commands.size(); ++i) {
    Reply reply = connection.read_reply();
    if (!reply) return false;
    if (reply->type == REDIS_REPLY_ERROR) all_ok = false;
  }
  if (all_ok) {
    std::lock_guard<std::mutex> lock(mutex_);
    epochs_[&connection] = commands->epoch;
  }
  return true;
}

ConnectionPool::Counters ConnectionPool::counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Counters c = counters_;
  c.open = open_;
  c.idle = idle_.size();
  return c;
}

}  // namespace ttlcache::redis::detail

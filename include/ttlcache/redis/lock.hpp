// RedisLockService: named leased locks on Redis, any topology (SET NX PX + compare-and-delete).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ttlcache/lock.hpp"
#include "ttlcache/redis/options.hpp"

namespace ttlcache::redis {

/// Counters for metrics, monotonic since the service was constructed.
struct RedisLockStats {
  std::uint64_t acquired = 0;        ///< attempts that got the lock
  std::uint64_t contended = 0;       ///< attempts that found it held by another holder
  std::uint64_t timed_out = 0;       ///< try_lock_for calls that gave up at their deadline
  std::uint64_t released = 0;        ///< releases that deleted our own lock
  std::uint64_t release_lost = 0;    ///< releases that found the lock expired or taken over
  std::uint64_t extended = 0;        ///< extends that reset our own lease
  std::uint64_t extend_lost = 0;     ///< extends that found the lock expired or taken over
  std::uint64_t release_errors = 0;  ///< destructor releases that failed and were swallowed
  std::uint64_t script_loads = 0;    ///< EVALSHA answered NOSCRIPT, so EVAL sent the script
};

class RedisLockService;

/// One held lock: the RAII guard. Its destructor releases the lock (noexcept: a failure there
/// is swallowed and counted in RedisLockStats::release_errors; the lease then runs out on the
/// server). Move-only; a moved-from RedisLock holds nothing.
///
/// Holding a RedisLock is a belief, not a fact: the lease can expire while this process is
/// paused, and then another holder may own the lock (see docs/locks.md). release() and
/// extend() are compare-and-set on the random token, so they never touch another holder's lock.
///
/// Thread-safety: one RedisLock is not for concurrent use (like std::unique_lock); different
/// RedisLock objects may be used from different threads.
class RedisLock final : public LockLease {
 public:
  RedisLock(RedisLock&& other) noexcept;
  /// Releases the lock held by *this first (as the destructor does), then takes other's.
  RedisLock& operator=(RedisLock&& other) noexcept;
  RedisLock(const RedisLock&) = delete;
  RedisLock& operator=(const RedisLock&) = delete;
  ~RedisLock() override;

  /// Deletes the lock if this holder still owns it (one Lua compare-and-delete).
  /// @return true when our lock was deleted; false when it had expired or another holder has
  ///         it (nothing changed), or this object no longer holds anything.
  /// @throws connection_error, timeout_error, backend_error; the lock is then still considered
  ///         held by this object, so release() may be called again (or the lease runs out).
  bool release() override;

  /// Sets the remaining lease to lease (PEXPIRE) if this holder still owns the lock.
  /// @return false when the lock expired or passed to another holder: stop the guarded work.
  /// @throws argument_error for a non-positive lease; connection_error, timeout_error,
  ///         backend_error when Redis could not answer (ownership is then unknown).
  bool extend(std::chrono::milliseconds lease) override;

  /// Asks Redis whether the lock is still ours (a GET compared with the token). A true answer
  /// can be stale by the time it arrives; it is for diagnostics, not for guarding work.
  /// @throws connection_error, timeout_error, backend_error.
  bool owns() const;

  /// False after release(), after release()/extend() found the lock lost, and when moved from.
  bool held() const noexcept { return held_; }
  const std::string& name() const noexcept { return name_; }
  /// The 128-bit random token of this acquisition, as 32 lowercase hex digits (the value stored
  /// under the lock's key). Not secret, but unguessable: only its holder can release.
  const std::string& token() const noexcept { return token_; }

 private:
  friend class RedisLockService;
  struct Shared;
  RedisLock(std::shared_ptr<Shared> shared, std::string name, std::string token) noexcept;
  void release_quietly() noexcept;

  std::shared_ptr<Shared> shared_;
  std::string name_;
  std::string token_;
  bool held_ = false;
};

/// Named locks on Redis: a standalone server, a Redis Cluster, or a master behind Sentinel
/// (RedisOptions::topology). No Redlock over several independent masters.
///
/// - A lock named n is the key "<key_namespace>@lock:<n>" holding the holder's random token,
///   with the lease as its TTL. Acquire is `SET key token NX PX lease`; release and extend are
///   Lua compare-and-delete / compare-and-pexpire (EVALSHA, with EVAL after NOSCRIPT).
/// - Topology: each lock is one key, so every command for it goes to the master owning that key
///   (on a cluster the master of its hash slot, following MOVED/ASK; behind Sentinel the current
///   master), and the topology is learned again after a connection failure or a READONLY
///   reply, as RedisStore does. A failover can lose a lock the old master had not replicated
///   yet (see docs/locks.md).
/// - Names are used literally (never as patterns): any bytes except control characters, at most
///   max_key_length bytes. Other names throw argument_error / limit_error before anything is
///   sent.
/// - Failures: connection_error (unreachable, connection lost), timeout_error (no reply within
///   command_timeout, no free connection within pool_wait_timeout), backend_error (an error
///   reply). Messages name the lock, the backend ("redis") and the node; never credentials.
/// - Locks stay usable after the service is destroyed (they share its router and pools).
///
/// Thread-safety: every member function is safe to call concurrently.
class RedisLockService final : public LockService {
 public:
  /// Validates options (config_error naming the field). With connect_on_start, opens one
  /// connection now so a bad address or password fails here (connection_error/timeout_error).
  explicit RedisLockService(RedisOptions options);
  ~RedisLockService() override;
  RedisLockService(const RedisLockService&) = delete;
  RedisLockService& operator=(const RedisLockService&) = delete;

  /// The LockService interface: try_acquire() as a LockLease (a RedisLock).
  std::unique_ptr<LockLease> try_lock(std::string_view name,
                                      std::chrono::milliseconds lease) override;

  /// One attempt, no waiting. @return the lock, or nullopt when another holder has it.
  /// @throws argument_error / limit_error for a bad name or a non-positive lease;
  ///         connection_error, timeout_error, backend_error when Redis could not answer.
  std::optional<RedisLock> try_acquire(std::string_view name, std::chrono::milliseconds lease);

  /// Retries try_acquire() with jittered exponential backoff (1 ms doubling up to 50 ms) until
  /// it succeeds or timeout has passed; timeout 0 means one attempt. @return nullopt at the
  /// deadline. Errors as try_acquire(); a Redis failure ends the wait at once.
  std::optional<RedisLock> try_lock_for(std::string_view name, std::chrono::milliseconds lease,
                                        std::chrono::milliseconds timeout);

  RedisLockStats stats() const noexcept;
  /// For logs (never credentials): "127.0.0.1:6379" for a standalone server, "cluster
  /// 10.0.0.1:7000,10.0.0.2:7000" (the seeds) or "sentinel master mymaster via s1:26379,..."
  /// (the Sentinels). Error messages name the node that failed.
  const std::string& endpoint() const noexcept;

 private:
  std::shared_ptr<RedisLock::Shared> shared_;
};

}  // namespace ttlcache::redis

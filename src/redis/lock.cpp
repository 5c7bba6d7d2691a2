// RedisLockService: SET NX PX to acquire, Lua compare-and-delete / compare-and-pexpire after.
// SPDX-License-Identifier: MIT
#include "ttlcache/redis/lock.hpp"

#include <hiredis/hiredis.h>
#include <sys/random.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "cluster.hpp"
#include "connection.hpp"
#include "ttlcache/errors.hpp"

namespace ttlcache::redis {

using detail::Answer;
using detail::Op;
using detail::Reply;
using Clock = std::chrono::steady_clock;

namespace {

// Both scripts act only when the key still holds the caller's token, so an expired holder can
// never delete or extend the lock of whoever took it over. The SHA-1s are of these exact
// texts; a mismatch would only cost an EVAL per call (a test checks they match).
constexpr std::string_view release_script =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
constexpr std::string_view release_sha = "6fbe84d1140fd2047394924af9d845b83c070bec";
constexpr std::string_view extend_script =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], "
    "ARGV[2]) end return 0";
constexpr std::string_view extend_sha = "e50f848e374a94192aa6f2e444e7eb8acc16501d";

// Redis refuses an expiry that overflows its clock; longer leases are clamped (~2000 years).
constexpr long long max_lease_ms = 1LL << 46;

std::string_view text_of(const redisReply* reply) {
  return reply->str ? std::string_view(reply->str, reply->len) : std::string_view();
}

std::string lease_text(std::chrono::milliseconds lease) {
  return std::to_string(std::min<long long>(lease.count(), max_lease_ms));
}

// 128 bits from the kernel CSPRNG: tokens must not collide between processes or be guessable,
// which a seeded PRNG (same seed after fork, after a container snapshot) cannot promise.
std::string new_token() {
  std::array<unsigned char, 16> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  if (got < bytes.size()) {
    // No getrandom (very old kernel or a seccomp filter): random_device reads /dev/urandom.
    std::random_device device;
    for (auto& b : bytes) b = static_cast<unsigned char>(device() & 0xffU);
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::string token(bytes.size() * 2, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    token[2 * i] = digits[bytes[i] >> 4U];
    token[2 * i + 1] = digits[bytes[i] & 0xfU];
  }
  return token;
}

// For endpoint(): the server, or the seeds / Sentinels the topology is learned from.
std::string where_of(const RedisOptions& options) {
  if (options.topology == Topology::standalone) return detail::endpoint_of(options);
  std::string hosts;
  for (const auto& node : options.nodes) {
    if (!hosts.empty()) hosts += ',';
    hosts += node.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", node.host, node.port)
                                                      : fmt::format("{}:{}", node.host, node.port);
  }
  if (options.topology == Topology::cluster) return "cluster " + hosts;
  return fmt::format("sentinel master {} via {}", options.sentinel_master, hosts);
}

void check_lease(std::string_view name, std::chrono::milliseconds lease) {
  if (lease.count() <= 0) {
    throw argument_error(fmt::format(
        "ttlcache redis backend: lock {}: lease must be positive, got {} ms; nothing was sent",
        ttlcache::detail::printable_key(name), lease.count()));
  }
}

}  // namespace

struct RedisLock::Shared {
  explicit Shared(RedisOptions opts)
      : options((opts.validate(), std::move(opts))),
        prefix(options.key_namespace + "@lock:"),
        endpoint(where_of(options)),
        router(options) {}

  const RedisOptions options;
  const std::string prefix;  // "<namespace>@lock:": outside the data namespace "<namespace>:"
  const std::string endpoint;
  // Every command goes through the router by the lock's key, as RedisStore's key commands do:
  // on a cluster to the master of the key's slot (MOVED/ASK followed), behind Sentinel to the
  // current master (asked again after a failure or READONLY).
  detail::Router router;

  std::atomic<std::uint64_t> acquired{0};
  std::atomic<std::uint64_t> contended{0};
  std::atomic<std::uint64_t> timed_out{0};
  std::atomic<std::uint64_t> released{0};
  std::atomic<std::uint64_t> release_lost{0};
  std::atomic<std::uint64_t> extended{0};
  std::atomic<std::uint64_t> extend_lost{0};
  std::atomic<std::uint64_t> release_errors{0};
  std::atomic<std::uint64_t> script_loads{0};

  std::mutex jitter_mutex;
  std::minstd_rand jitter{static_cast<std::minstd_rand::result_type>(
      Clock::now().time_since_epoch().count() & 0x7fffffff)};

  std::string key_of(std::string_view name) const {
    std::string key;
    key.reserve(prefix.size() + name.size());
    key.append(prefix).append(name);
    return key;
  }

  void check_name(std::string_view name) const {
    if (name.empty()) {
      throw argument_error("ttlcache redis backend: lock name is empty; nothing was sent");
    }
    if (name.size() > options.max_key_length) {
      throw limit_error(
          fmt::format("ttlcache redis backend: lock name {} is {} bytes, over the limit of {} "
                      "bytes (max_key_length); nothing was sent",
                      ttlcache::detail::printable_key(name), name.size(), options.max_key_length));
    }
    for (const char c : name) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte == 0x7f) {
        throw argument_error(fmt::format(
            "ttlcache redis backend: lock name {} rejected: control character 0x{:02x}; "
            "nothing was sent",
            ttlcache::detail::printable_key(name), static_cast<unsigned>(byte)));
      }
    }
  }

  // What failed, for messages: "lock "jobs" (SET NX PX)". The pool and throw_failure add the
  // server and the reason; backend_error adds "ttlcache redis backend:".
  static std::string what(std::string_view name, std::string_view command) {
    return fmt::format("lock {} ({})", ttlcache::detail::printable_key(name), command);
  }

  [[noreturn]] static void reply_error(const Answer& answer, const Op& op) {
    const redisReply* reply = answer.reply.get();
    if (reply->type == REDIS_REPLY_ERROR) {
      detail::throw_reply_error(op, answer.node->endpoint,
                                fmt::format("the server replied {}", text_of(reply)));
    }
    detail::throw_reply_error(op, answer.node->endpoint,
                              fmt::format("unexpected reply of type {}", reply->type));
  }

  // true: SET NX stored our token. false: someone else holds the lock.
  bool set_nx(std::string_view name, const std::string& token, std::chrono::milliseconds lease) {
    const std::string key = key_of(name);
    const std::string ms = lease_text(lease);
    const std::string description = what(name, "SET NX PX");
    const Op op{description, Op::Kind::server};
    const Answer answer = router.run_key(key, op, {"SET", key, token, "NX", "PX", ms});
    const redisReply* reply = answer.reply.get();
    if (reply->type == REDIS_REPLY_NIL) return false;
    if (reply->type == REDIS_REPLY_STATUS && text_of(reply) == "OK") return true;
    reply_error(answer, op);
  }

  // Runs one of the compare-and-* scripts; returns its integer (1: done, 0: not ours). The key
  // is in KEYS, so a cluster routes the script to the key's master.
  long long run_script(std::string_view name, std::string_view command, std::string_view script,
                       std::string_view sha, const std::string& token, std::string_view arg) {
    const std::string key = key_of(name);
    const std::string description = what(name, command);
    const Op op{description, Op::Kind::server};
    Answer answer = arg.empty() ? router.run_key(key, op, {"EVALSHA", sha, "1", key, token})
                                : router.run_key(key, op, {"EVALSHA", sha, "1", key, token, arg});
    if (answer.reply->type == REDIS_REPLY_ERROR &&
        text_of(answer.reply.get()).substr(0, 8) == "NOSCRIPT") {
      // After a restart, a SCRIPT FLUSH, or on a cluster node (or promoted replica) that has
      // not run it yet: each node has its own script cache. EVAL goes to the same key's
      // master, runs the script and caches it there for the next EVALSHA.
      script_loads.fetch_add(1, std::memory_order_relaxed);
      answer = arg.empty() ? router.run_key(key, op, {"EVAL", script, "1", key, token})
                           : router.run_key(key, op, {"EVAL", script, "1", key, token, arg});
    }
    if (answer.reply->type != REDIS_REPLY_INTEGER) reply_error(answer, op);
    return answer.reply->integer;
  }

  std::chrono::milliseconds backoff_sleep(std::chrono::milliseconds ceiling) {
    // "Equal jitter": half the step fixed, half random, so waiters spread out but still wait.
    const auto half = std::max<long long>(ceiling.count() / 2, 1);
    std::lock_guard<std::mutex> lock(jitter_mutex);
    std::uniform_int_distribution<long long> extra(0, half);
    return std::chrono::milliseconds(half + extra(jitter));
  }
};

// ---- RedisLock ----

RedisLock::RedisLock(std::shared_ptr<Shared> shared, std::string name, std::string token) noexcept
    : shared_(std::move(shared)), name_(std::move(name)), token_(std::move(token)), held_(true) {}

RedisLock::RedisLock(RedisLock&& other) noexcept
    : shared_(std::move(other.shared_)),
      name_(std::move(other.name_)),
      token_(std::move(other.token_)),
      held_(std::exchange(other.held_, false)) {}

RedisLock& RedisLock::operator=(RedisLock&& other) noexcept {
  if (this != &other) {
    release_quietly();
    shared_ = std::move(other.shared_);
    name_ = std::move(other.name_);
    token_ = std::move(other.token_);
    held_ = std::exchange(other.held_, false);
  }
  return *this;
}

RedisLock::~RedisLock() { release_quietly(); }

void RedisLock::release_quietly() noexcept {
  if (!held_) return;
  try {
    release();
  } catch (...) {
    // A destructor must not throw; the lease runs out on the server by itself.
    held_ = false;
    shared_->release_errors.fetch_add(1, std::memory_order_relaxed);
  }
}

bool RedisLock::release() {
  if (!held_) return false;
  const long long deleted =
      shared_->run_script(name_, "release: compare-and-delete", release_script, release_sha, token_,
                          std::string_view());
  held_ = false;
  if (deleted == 1) {
    shared_->released.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  shared_->release_lost.fetch_add(1, std::memory_order_relaxed);
  return false;
}

bool RedisLock::extend(std::chrono::milliseconds lease) {
  check_lease(name_, lease);
  if (!held_) return false;
  const std::string ms = lease_text(lease);
  const long long done = shared_->run_script(name_, "extend: compare-and-pexpire", extend_script,
                                             extend_sha, token_, ms);
  if (done == 1) {
    shared_->extended.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  held_ = false;
  shared_->extend_lost.fetch_add(1, std::memory_order_relaxed);
  return false;
}

bool RedisLock::owns() const {
  if (!held_) return false;
  const std::string key = shared_->key_of(name_);
  const std::string description = Shared::what(name_, "GET");
  const Op op{description, Op::Kind::server};
  const Answer answer = shared_->router.run_key(key, op, {"GET", key});
  const redisReply* reply = answer.reply.get();
  if (reply->type == REDIS_REPLY_NIL) return false;
  if (reply->type != REDIS_REPLY_STRING) Shared::reply_error(answer, op);
  return text_of(reply) == token_;
}

// ---- RedisLockService ----

RedisLockService::RedisLockService(RedisOptions options)
    : shared_(std::make_shared<RedisLock::Shared>(std::move(options))) {
  if (shared_->options.connect_on_start) {
    // Learns the topology, then opens one connection per master (kept in the pools), so bad
    // addresses fail at start-up.
    const Op op{"connect (lock service)", Op::Kind::server};
    for (const auto& node : shared_->router.masters()) auto lease = node->pool.acquire(op);
  }
}

RedisLockService::~RedisLockService() = default;

std::unique_ptr<LockLease> RedisLockService::try_lock(std::string_view name,
                                                      std::chrono::milliseconds lease) {
  std::optional<RedisLock> lock = try_acquire(name, lease);
  if (!lock) return nullptr;
  return std::make_unique<RedisLock>(std::move(*lock));
}

std::optional<RedisLock> RedisLockService::try_acquire(std::string_view name,
                                                       std::chrono::milliseconds lease) {
  shared_->check_name(name);
  check_lease(name, lease);
  std::string token = new_token();
  if (!shared_->set_nx(name, token, lease)) {
    shared_->contended.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  shared_->acquired.fetch_add(1, std::memory_order_relaxed);
  return RedisLock(shared_, std::string(name), std::move(token));
}

std::optional<RedisLock> RedisLockService::try_lock_for(std::string_view name,
                                                        std::chrono::milliseconds lease,
                                                        std::chrono::milliseconds timeout) {
  constexpr std::chrono::milliseconds first_step{1};
  constexpr std::chrono::milliseconds max_step{50};
  shared_->check_name(name);
  check_lease(name, lease);
  const auto deadline = Clock::now() + std::max(timeout, std::chrono::milliseconds(0));
  std::chrono::milliseconds step = first_step;
  for (;;) {
    std::optional<RedisLock> lock = try_acquire(name, lease);
    if (lock) return lock;
    const auto now = Clock::now();
    if (now >= deadline) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    std::this_thread::sleep_for(
        std::min(shared_->backoff_sleep(step), std::max(left, std::chrono::milliseconds(1))));
    step = std::min(step * 2, max_step);
  }
  shared_->timed_out.fetch_add(1, std::memory_order_relaxed);
  return std::nullopt;
}

RedisLockStats RedisLockService::stats() const noexcept {
  const auto& s = *shared_;
  RedisLockStats out;
  out.acquired = s.acquired.load(std::memory_order_relaxed);
  out.contended = s.contended.load(std::memory_order_relaxed);
  out.timed_out = s.timed_out.load(std::memory_order_relaxed);
  out.released = s.released.load(std::memory_order_relaxed);
  out.release_lost = s.release_lost.load(std::memory_order_relaxed);
  out.extended = s.extended.load(std::memory_order_relaxed);
  out.extend_lost = s.extend_lost.load(std::memory_order_relaxed);
  out.release_errors = s.release_errors.load(std::memory_order_relaxed);
  out.script_loads = s.script_loads.load(std::memory_order_relaxed);
  return out;
}

const std::string& RedisLockService::endpoint() const noexcept { return shared_->endpoint; }

}  // namespace ttlcache::redis

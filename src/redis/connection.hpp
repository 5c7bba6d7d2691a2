// One Redis connection: our own socket (plain TCP, Unix or TLS), hiredis for RESP, handshake.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ttlcache/redis/options.hpp"

struct redisReader;
struct redisReply;
struct ssl_st;
struct ssl_ctx_st;

namespace ttlcache::redis::detail {

struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept;
};
/// Every reply is owned, so freeReplyObject runs on every path, exceptions included.
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

/// Why a connection stopped working. lost and timeout make it unusable (discarded by the pool).
enum class Failure { none, timeout, lost, protocol, refused };

/// Argument vectors for batches: pointers into strings the caller keeps alive.
class Args {
 public:
  void reserve(std::size_t n) {
    ptrs_.reserve(n);
    lens_.reserve(n);
  }
  void add(std::string_view s) {
    ptrs_.push_back(s.data());
    lens_.push_back(s.size());
  }
  void clear() noexcept {
    ptrs_.clear();
    lens_.clear();
  }
  std::size_t size() const noexcept { return ptrs_.size(); }
  const char** argv() noexcept { return ptrs_.data(); }
  const std::size_t* lens() const noexcept { return lens_.data(); }

 private:
  std::vector<const char*> ptrs_;
  std::vector<std::size_t> lens_;
};

/// What the caller was doing, for error messages (built only when something fails).
struct Op {
  enum class Kind { key, batch, prefix, space, server };
  Op(std::string_view command_, Kind kind_, std::string_view key_ = {}, std::size_t count_ = 0)
      : command(command_), kind(kind_), key(key_), count(count_) {}
  std::string_view command;
  Kind kind;
  std::string_view key;  // the user's key or prefix (namespace not included)
  std::size_t count;     // batch size
};
std::string describe(const Op& op);

/// A blocking connection. The socket is ours, optionally wrapped in TLS (OpenSSL); every wait
/// is bounded by ttlcache::remaining_budget() of the command or connect timeout. Plain sockets
/// block in send/recv with the kernel's timeouts set to command_timeout (one system call per
/// wait, as hiredis), and poll() first only while a call deadline is set; TLS sockets are
/// non-blocking with a poll() per wait; commands are RESP-encoded here, and hiredis only parses
/// replies (redisReader). One transport for plain and TLS keeps both on the same code path.
/// Not thread-safe: the pool hands it to one caller at a time.
/// Command methods return a null Reply when the connection failed; failure() and
/// failure_text() then say why, and the connection must not be used again.
class Connection {
 public:
  struct OpenResult {
    std::unique_ptr<Connection> connection;
    Failure failure = Failure::none;
    std::string reason;  // never contains credentials
  };
  /// Connects (TCP or Unix; TLS handshake and certificate checks for options.tls), applies
  /// keepalive, and pipelines AUTH, SELECT, CLIENT SETNAME and PING. Connect and handshake
  /// together wait at most remaining_budget(connect_timeout). Never throws for network, TLS or
  /// server problems (see OpenResult); throws bad_alloc.
  static OpenResult open(const RedisOptions& options);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// One command, up to 8 arguments, argv form.
  Reply command(std::initializer_list<std::string_view> args);
  Reply command(Args& args);
  /// Queues a command for a pipeline; read the replies with read_reply(), in order.
  bool append(Args& args);
  bool append(std::initializer_list<std::string_view> args);
  /// Sends what is queued, then waits for the next reply.
  Reply read_reply();

  /// PING with the command timeout; false (and broken) when no PONG came back.
  bool ping();

  bool broken() const noexcept { return failure_ != Failure::none; }
  Failure failure() const noexcept { return failure_; }
  const std::string& failure_text() const noexcept { return failure_text_; }

  std::chrono::steady_clock::time_point last_used() const noexcept { return last_used_; }
  void touch() noexcept { last_used_ = std::chrono::steady_clock::now(); }

  // ---- for a caller's own poll() loop (the pub/sub subscriber) ----
  /// The socket, to poll for POLLIN. Data already read is never hidden from the caller:
  /// read_available() drains TLS's own buffer too, so poll() sees everything else.
  int fd() const noexcept { return fd_; }
  /// Sends every queued command, waiting as a command would. False (broken) on failure.
  bool flush();
  /// Reads what the socket has now, without waiting. False (broken) on EOF or error.
  bool read_available();
  /// Moves a reply already read into out (out stays null when there is none). False (broken)
  /// on a protocol error.
  bool buffered_reply(Reply& out);

 private:
  Connection(int fd, std::chrono::milliseconds timeout);
  bool wait_for(short events, bool sending);
  void fail_timeout(bool sending, std::chrono::milliseconds budget);
  bool fill(bool wait);
  bool queue(int argc, const char** argv, const std::size_t* lens);
  void fail(Failure failure, std::string text);
  void fail_tls(std::string_view doing);

  int fd_;
  ssl_st* ssl_ = nullptr;
  std::shared_ptr<ssl_ctx_st> tls_context_;  // kept alive as long as ssl_
  redisReader* reader_ = nullptr;
  std::string out_;  // queued commands, RESP-encoded
  std::size_t out_sent_ = 0;
  Failure failure_ = Failure::none;
  std::string failure_text_;
  std::chrono::milliseconds timeout_{0};
  std::chrono::steady_clock::time_point last_used_;
};

/// "127.0.0.1:6379", "[::1]:6379" or "unix:/run/redis.sock": for messages.
std::string endpoint_of(const RedisOptions& options);

/// Throws connection_error or timeout_error (by failure) naming op, endpoint and reason.
[[noreturn]] void throw_failure(Failure failure, const Op& op, std::string_view endpoint,
                                std::string_view reason);
/// Throws backend_error for an error reply (or an unexpected reply type).
[[noreturn]] void throw_reply_error(const Op& op, std::string_view endpoint,
                                    std::string_view server_text);

}  // namespace ttlcache::redis::detail

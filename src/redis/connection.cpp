// hiredis connection handling: handshake, argv commands, pipelines, and failure classification.
// SPDX-License-Identifier: MIT
#include "connection.hpp"

#include <hiredis/hiredis.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

#include "ttlcache/deadline.hpp"
#include "ttlcache/errors.hpp"

namespace ttlcache::redis::detail {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

std::string_view reply_text(const redisReply* reply) {
  return reply->str ? std::string_view(reply->str, reply->len) : std::string_view();
}

constexpr std::size_t max_inline_args = 8;

// argv/lens arrays for a short command, without allocating. A longer argument list is a bug in
// the caller (they use Args): refuse it rather than send a truncated command.
class InlineArgs {
 public:
  explicit InlineArgs(std::initializer_list<std::string_view> args) {
    if (args.size() > max_inline_args) {
      // Deliberately not a ttlcache::error: this is an internal invariant no user input can reach.
      // Connection is internal (src/redis), every braced-list call site has a fixed length of
      // at most 6, so only a bug in ttlcache trips it. As a ttlcache::error it would be swallowed
      // by Cache's "serve anyway" catch (const error&) handlers and the bug would go unseen.
      throw std::logic_error("ttlcache redis: inline command with too many arguments");
    }
    for (std::string_view arg : args) {
      argv_[count_] = arg.data();
      lens_[count_] = arg.size();
      ++count_;
    }
  }
  int count() const noexcept { return static_cast<int>(count_); }
  const char** argv() const noexcept { return argv_.data(); }
  const std::size_t* lens() const noexcept { return lens_.data(); }

 private:
  mutable std::array<const char*, max_inline_args> argv_{};
  std::array<std::size_t, max_inline_args> lens_{};
  std::size_t count_ = 0;
};

}  // namespace

void ReplyDeleter::operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }

std::string describe(const Op& op) {
  switch (op.kind) {
    case Op::Kind::key:
      return fmt::format("{} of key {}", op.command, ttlcache::detail::printable_key(op.key));
    case Op::Kind::batch:
      if (op.count == 0) return fmt::format("{} of 0 keys", op.command);
      return fmt::format("{} of {} key{} (first {})", op.command, op.count,
                         op.count == 1 ? "" : "s", ttlcache::detail::printable_key(op.key));
    case Op::Kind::prefix:
      return fmt::format("{} of keys with prefix {}", op.command,
                         ttlcache::detail::printable_key(op.key));
    case Op::Kind::space:
      return fmt::format("{} of the namespace", op.command);
    case Op::Kind::server:
      break;
  }
  return std::string(op.command);
}

std::string endpoint_of(const RedisOptions& options) {
  if (!options.unix_socket.empty()) return "unix:" + options.unix_socket;
  if (options.host.find(':') != std::string::npos) {
    return fmt::format("[{}]:{}", options.host, options.port);
  }
  return fmt::format("{}:{}", options.host, options.port);
}

void throw_failure(Failure failure, const Op& op, std::string_view endpoint,
                   std::string_view reason) {
  std::string message = fmt::format("{} on {} failed: {}", describe(op), endpoint, reason);
  if (failure == Failure::timeout) throw timeout_error("redis", message);
  throw connection_error("redis", message);
}

void throw_reply_error(const Op& op, std::string_view endpoint, std::string_view server_text) {
  throw backend_error("redis",
                      fmt::format("{} on {} failed: {}", describe(op), endpoint, server_text));
}

Connection::Connection(redisContext* context) noexcept
    : context_(context), last_used_(std::chrono::steady_clock::now()) {}

Connection::~Connection() { redisFree(context_); }

Connection::OpenResult Connection::open(const RedisOptions& options) {
  OpenResult result;
  // A connect made inside a cache call waits no longer than the call's remaining budget.
  const auto connect_wait = ttlcache::remaining_budget(options.connect_timeout);
  if (connect_wait.count() == 0) {
    result.failure = Failure::timeout;
    result.reason = "not connecting: the call's deadline has passed";
    return result;
  }
  errno = 0;
  redisContext* context =
      options.unix_socket.empty()
          ? redisConnectWithTimeout(options.host.c_str(), options.port, to_timeval(connect_wait))
          : redisConnectUnixWithTimeout(options.unix_socket.c_str(), to_timeval(connect_wait));
  const int connect_errno = errno;
  if (context == nullptr) throw std::bad_alloc();  // hiredis returns NULL only when out of memory
  std::unique_ptr<Connection> connection(new Connection(context));
  connection->timeout_ = options.command_timeout;

  if (context->err != 0) {
    const bool timed_out = connect_errno == ETIMEDOUT || connect_errno == EINPROGRESS ||
                           std::strstr(context->errstr, "timed out") != nullptr;
    result.failure = timed_out ? Failure::timeout : Failure::refused;
    result.reason = timed_out ? fmt::format(
                                    "cannot connect: no answer within {} ms "
                                    "(connect_timeout)",
                                    connect_wait.count())
                              : fmt::format("cannot connect: {}", context->errstr);
    return result;
  }
  connection->armed_ = options.command_timeout;
  if (redisSetTimeout(context, to_timeval(options.command_timeout)) != REDIS_OK) {
    result.failure = Failure::refused;
    result.reason = fmt::format("cannot set the socket timeout: {}", context->errstr);
    return result;
  }
  // Keepalive lets the kernel notice a peer that vanished without closing (a dead host).
  if (options.unix_socket.empty()) redisEnableKeepAlive(context);

  // The handshake is one round trip: AUTH, SELECT, CLIENT SETNAME and PING pipelined.
  enum class Step { auth, select, name, ping };
  std::array<Step, 4> steps{};
  std::size_t step_count = 0;
  const std::string db_text = std::to_string(options.db);
  bool queued = true;
  if (!options.password.empty() || !options.user.empty()) {
    queued = options.user.empty() ? connection->append({"AUTH", options.password})
                                  : connection->append({"AUTH", options.user, options.password});
    steps[step_count++] = Step::auth;
  }
  if (queued && options.db != 0) {
    queued = connection->append({"SELECT", db_text});
    steps[step_count++] = Step::select;
  }
  if (queued && !options.client_name.empty()) {
    queued = connection->append({"CLIENT", "SETNAME", options.client_name});
    steps[step_count++] = Step::name;
  }
  if (queued) {
    queued = connection->append({"PING"});
    steps[step_count++] = Step::ping;
  }

  std::string refusal;
  for (std::size_t i = 0; queued && i < step_count; ++i) {
    Reply reply = connection->read_reply();
    if (!reply) break;
    if (reply->type != REDIS_REPLY_ERROR || !refusal.empty()) continue;
    // The first refusal explains the rest (after a failed AUTH everything says NOAUTH).
    // Only the server's text and our own words: never the user name or the password.
    switch (steps[i]) {
      case Step::auth:
        refusal = fmt::format("AUTH was refused: {}", reply_text(reply.get()));
        break;
      case Step::select:
        refusal = fmt::format("SELECT {} was refused: {}", options.db, reply_text(reply.get()));
        break;
      case Step::name:
        refusal = fmt::format("CLIENT SETNAME was refused: {}", reply_text(reply.get()));
        break;
      case Step::ping:
        refusal =
            fmt::format("the server refused PING: {} (does it need a password, or an ACL user?)",
                        reply_text(reply.get()));
        break;
    }
  }
  if (connection->broken()) {
    result.failure = connection->failure();
    result.reason = "during the connection handshake: " + connection->failure_text();
    return result;
  }
  if (!refusal.empty()) {
    result.failure = Failure::refused;
    result.reason = std::move(refusal);
    return result;
  }
  connection->touch();
  result.connection = std::move(connection);
  return result;
}

bool Connection::arm_timeout() {
  const auto wait = ttlcache::remaining_budget(timeout_);
  if (wait.count() == 0) {
    failure_ = Failure::timeout;
    failure_text_ =
        "the call's deadline passed before the command was sent; the connection was dropped";
    return false;
  }
  if (wait != armed_) {
    // Only when it differs: without a deadline this stays command_timeout and costs nothing.
    if (redisSetTimeout(context_, to_timeval(wait)) != REDIS_OK) {
      failure_ = Failure::lost;
      failure_text_ = fmt::format("cannot set the socket timeout: {}", context_->errstr);
      return false;
    }
    armed_ = wait;
  }
  return true;
}

void Connection::record_failure(int saved_errno) {
  switch (context_->err) {
    case REDIS_ERR_IO:
      // SO_RCVTIMEO/SO_SNDTIMEO expiring makes the blocking read or write fail with EAGAIN.
      if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK) {
        failure_ = Failure::timeout;
        failure_text_ = fmt::format(
            "no reply within {} ms ({}); the connection "
            "was dropped",
            armed_.count(), armed_ < timeout_ ? "the call's deadline" : "command_timeout");
      } else {
        failure_ = Failure::lost;
        failure_text_ = fmt::format("connection lost: {}", context_->errstr);
      }
      break;
    case REDIS_ERR_EOF:
      failure_ = Failure::lost;
      failure_text_ = "connection closed by the server";
      break;
    case REDIS_ERR_PROTOCOL:
      failure_ = Failure::protocol;
      failure_text_ = fmt::format("protocol error: {}", context_->errstr);
      break;
    default:
      failure_ = Failure::lost;
      failure_text_ = context_->errstr[0] != '\0' ? std::string(context_->errstr)
                                                  : std::string("unknown hiredis error");
      break;
  }
}

Reply Connection::command(std::initializer_list<std::string_view> args) {
  if (broken() || !arm_timeout()) return Reply{};
  const InlineArgs inline_args(args);
  errno = 0;
  void* raw =
      redisCommandArgv(context_, inline_args.count(), inline_args.argv(), inline_args.lens());
  if (raw == nullptr) {
    record_failure(errno);
    return Reply{};
  }
  return Reply(static_cast<redisReply*>(raw));
}

Reply Connection::command(Args& args) {
  if (broken() || !arm_timeout()) return Reply{};
  errno = 0;
  void* raw = redisCommandArgv(context_, static_cast<int>(args.size()), args.argv(), args.lens());
  if (raw == nullptr) {
    record_failure(errno);
    return Reply{};
  }
  return Reply(static_cast<redisReply*>(raw));
}

bool Connection::append(Args& args) {
  if (broken()) return false;
  if (redisAppendCommandArgv(context_, static_cast<int>(args.size()), args.argv(), args.lens()) !=
      REDIS_OK) {
    record_failure(errno);
    return false;
  }
  return true;
}

bool Connection::append(std::initializer_list<std::string_view> args) {
  if (broken()) return false;
  const InlineArgs inline_args(args);
  if (redisAppendCommandArgv(context_, inline_args.count(), inline_args.argv(),
                             inline_args.lens()) != REDIS_OK) {
    record_failure(errno);
    return false;
  }
  return true;
}

Reply Connection::read_reply() {
  if (broken() || !arm_timeout()) return Reply{};
  void* raw = nullptr;
  errno = 0;
  if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
    record_failure(errno);
    return Reply{};
  }
  return Reply(static_cast<redisReply*>(raw));
}

bool Connection::ping() {
  Reply reply = command({"PING"});
  if (!reply) return false;
  if (reply->type == REDIS_REPLY_STATUS && reply_text(reply.get()) == "PONG") return true;
  // An error reply (e.g. NOAUTH after an ACL change) means this connection is of no use.
  failure_ = Failure::lost;
  failure_text_ = fmt::format("health check PING answered {}", reply_text(reply.get()));
  return false;
}

}  // namespace ttlcache::redis::detail

// Redis connections: own sockets (TCP, Unix, TLS) with deadline-bounded waits, our own RESP
// command encoding, hiredis's reply reader, the handshake, and failure classification.
// SPDX-License-Identifier: MIT
#include "connection.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <utility>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fmt/format.h>

#include "tls.hpp"
#include "ttlcache/deadline.hpp"
#include "ttlcache/errors.hpp"

namespace ttlcache::redis::detail {
namespace {

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

namespace {

using steady = std::chrono::steady_clock;

constexpr std::size_t read_chunk = std::size_t{32} * 1024;

// Writes "<kind><number>\r\n" (an array header, *, or a bulk string's length, $) at out, which
// has room for 23 bytes; returns the end.
char* put_resp_header(char* out, char kind, std::size_t number) {
  *out++ = kind;
  out = std::to_chars(out, out + 20, number).ptr;  // a size_t has at most 20 digits
  *out++ = '\r';
  *out++ = '\n';
  return out;
}
constexpr std::size_t resp_header_max = 23;

// Closes the socket unless released: every early return of open() leaves nothing behind.
class SocketGuard {
 public:
  explicit SocketGuard(int fd) noexcept : fd_(fd) {}
  ~SocketGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  SocketGuard(const SocketGuard&) = delete;
  SocketGuard& operator=(const SocketGuard&) = delete;
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

// A DeadlineScope is active on this thread: waits must poll() for the remaining budget.
bool under_deadline() noexcept {
  return call_deadline() != std::chrono::steady_clock::time_point::max();
}

// poll() for one descriptor until deadline: >0 ready, 0 timed out, <0 error (errno set).
int poll_until(int fd, short events, steady::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0) return 0;
    pollfd entry{fd, events, 0};
    const int ready =
        ::poll(&entry, 1, static_cast<int>(std::min<long long>(left.count(), INT_MAX)));
    if (ready < 0 && errno == EINTR) continue;
    return ready;
  }
}

// The connect-phase budget: connect_timeout, or less when the call's deadline comes first.
struct ConnectBudget {
  std::chrono::milliseconds granted;
  std::chrono::milliseconds connect_timeout;
  steady::time_point deadline;

  std::string timeout_reason(std::string_view phase) const {
    if (granted < connect_timeout) {
      return fmt::format("{}: no answer within the call's remaining time budget of {} ms", phase,
                         granted.count());
    }
    return fmt::format("{}: no answer within {} ms (connect_timeout)", phase,
                       connect_timeout.count());
  }
};

// Keepalive lets the kernel notice a peer that vanished without closing (a dead host); the
// probe times are hiredis's, so that behaviour is unchanged.
void tune_tcp(int fd) {
  const int on = 1;
  const int idle = 15;
  const int interval = 5;
  const int count = 3;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

// One non-blocking connect, waited for until the budget's deadline. 0 or an errno value;
// ETIMEDOUT when the deadline passed.
int connect_one(int fd, const sockaddr* address, socklen_t length, const ConnectBudget& budget) {
  if (::connect(fd, address, length) == 0) return 0;
  if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR) return errno;
  const int ready = poll_until(fd, POLLOUT, budget.deadline);
  if (ready == 0) return ETIMEDOUT;
  if (ready < 0) return errno;
  int error = 0;
  socklen_t size = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) return errno;
  return error;
}

// A connected non-blocking socket, or -1 with result's failure and reason set.
int connect_socket(const RedisOptions& options, const ConnectBudget& budget,
                   Connection::OpenResult& result) {
  auto fail = [&](int error) {
    result.failure = error == ETIMEDOUT ? Failure::timeout : Failure::refused;
    result.reason = error == ETIMEDOUT ? budget.timeout_reason("cannot connect")
                                       : fmt::format("cannot connect: {}", std::strerror(error));
    return -1;
  };
  if (!options.unix_socket.empty()) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (options.unix_socket.size() >= sizeof address.sun_path) return fail(ENAMETOOLONG);
    std::memcpy(address.sun_path, options.unix_socket.c_str(), options.unix_socket.size() + 1);
    SocketGuard fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return fail(errno);
    const int error =
        connect_one(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address, budget);
    if (error != 0) return fail(error);
    return fd.release();
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options.port);
  const int resolved = ::getaddrinfo(options.host.c_str(), port.c_str(), &hints, &found);
  if (resolved != 0) {
    result.failure = Failure::refused;
    result.reason =
        fmt::format("cannot connect: cannot resolve the host: {}", ::gai_strerror(resolved));
    return -1;
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, ::freeaddrinfo);
  int last_error = ECONNREFUSED;
  // Each address in turn ("localhost" may be ::1 first while Redis listens on 127.0.0.1).
  for (const addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
    SocketGuard fd(
        ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.get() < 0) {
      last_error = errno;
      continue;
    }
    last_error = connect_one(fd.get(), a->ai_addr, a->ai_addrlen, budget);
    if (last_error == 0) {
      tune_tcp(fd.get());
      return fd.release();
    }
    if (last_error == ETIMEDOUT) break;  // the budget is spent for every address
  }
  return fail(last_error);
}

// The TLS handshake, waited for until the budget's deadline. Empty on success, else the
// reason (failure set).
bool tls_handshake(ssl_st* session, int fd, const RedisOptions& options,
                   const ConnectBudget& budget, Connection::OpenResult& result) {
  for (;;) {
    ERR_clear_error();
    const int done = SSL_connect(session);
    if (done == 1) return true;
    const int error = SSL_get_error(session, done);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      const int ready =
          poll_until(fd, error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, budget.deadline);
      if (ready > 0) continue;
      result.failure = ready == 0 ? Failure::timeout : Failure::lost;
      result.reason = ready == 0 ? budget.timeout_reason("TLS handshake")
                                 : fmt::format("TLS handshake: {}", std::strerror(errno));
      return false;
    }
    if (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      result.failure = Failure::lost;
      result.reason = errno == 0 ? std::string("TLS handshake: connection closed by the server")
                                 : fmt::format("TLS handshake: {}", std::strerror(errno));
      return false;
    }
    // A refused certificate or a server that does not speak TLS: connection_error, not retried
    // any sooner than the pool's backoff allows.
    result.failure = Failure::refused;
    result.reason = tls_handshake_failure(session, options);
    return false;
  }
}

}  // namespace

Connection::Connection(int fd, std::chrono::milliseconds timeout)
    : fd_(fd), timeout_(timeout), last_used_(std::chrono::steady_clock::now()) {
  reader_ = redisReaderCreate();
  if (reader_ == nullptr) {
    ::close(fd_);
    throw std::bad_alloc();
  }
}

Connection::~Connection() {
  if (ssl_ != nullptr) {
    // A polite close_notify when the session is healthy; never waits (non-blocking socket).
    if (!broken()) SSL_shutdown(ssl_);
    SSL_free(ssl_);
    ERR_clear_error();
  }
  ::close(fd_);
  redisReaderFree(reader_);
}

Connection::OpenResult Connection::open(const RedisOptions& options) {
  OpenResult result;
  ConnectBudget budget{remaining_budget(options.connect_timeout), options.connect_timeout, {}};
  if (budget.granted.count() <= 0) {
    result.failure = Failure::timeout;
    result.reason = "cannot connect: the call's time budget was already spent";
    return result;
  }
  budget.deadline = steady::now() + budget.granted;

  std::shared_ptr<ssl_ctx_st> tls_context;
  if (options.tls) {
    std::string error;
    tls_context = tls_context_for(options, error);
    if (!tls_context) {
      result.failure = Failure::refused;
      result.reason = std::move(error);
      return result;
    }
  }
  const int fd = connect_socket(options, budget, result);
  if (fd < 0) return result;
  std::unique_ptr<Connection> connection(new Connection(fd, options.command_timeout));
  if (!options.tls) {
    // Plain sockets block in send/recv, bounded by the kernel's timeouts: one system call per
    // wait, as hiredis, so that plain TCP keeps its speed. poll() is added only while a call
    // deadline is set (see flush and fill).
    const timeval limit = to_timeval(options.command_timeout);
    if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) != 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) != 0) {
      result.failure = Failure::refused;
      result.reason = fmt::format("cannot set the socket timeouts: {}", std::strerror(errno));
      return result;
    }
  } else {
    std::string error;
    connection->ssl_ = tls_session(tls_context.get(), fd, options, error);
    connection->tls_context_ = std::move(tls_context);
    if (connection->ssl_ == nullptr) {
      result.failure = Failure::refused;
      result.reason = std::move(error);
      return result;
    }
    if (!tls_handshake(connection->ssl_, fd, options, budget, result)) return result;
  }

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
    if (options.tls && connection->failure() == Failure::lost &&
        result.reason.find("client certificate") == std::string::npos) {
      // A server that refuses the client certificate (TLS 1.3: after the handshake) sends an
      // alert and closes; the close can reset the socket before the alert is read.
      result.reason +=
          " (right after the TLS handshake: a server with tls-auth-clients closes the connection "
          "this way when the client certificate is missing or not trusted: check tls_cert_file "
          "and tls_key_file)";
    }
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

void Connection::fail(Failure failure, std::string text) {
  if (failure_ != Failure::none) return;  // the first reason explains the rest
  failure_ = failure;
  failure_text_ = std::move(text);
}

void Connection::fail_tls(std::string_view doing) {
  std::string reason = tls_error_text("TLS error");
  if (reason.find("certificate required") != std::string::npos) {
    // TLS 1.3 reports a refused client certificate after the handshake, at the first read.
    reason += " (the server requires a client certificate: set tls_cert_file and tls_key_file)";
  } else if (reason.find("alert unknown ca") != std::string::npos ||
             reason.find("alert bad certificate") != std::string::npos) {
    reason +=
        " (the server does not trust the client certificate: it must be signed by a CA in the "
        "server's tls-ca-cert-file)";
  } else if (reason.find("unexpected eof") != std::string::npos) {
    fail(Failure::lost, "connection closed by the server");
    return;
  }
  fail(Failure::lost, fmt::format("TLS error while {}: {}", doing, reason));
}

bool Connection::wait_for(short events, bool sending) {
  const auto budget = remaining_budget(timeout_);
  if (budget.count() <= 0) {
    fail(Failure::timeout,
         fmt::format("the call's time budget was spent before {}; the connection was dropped",
                     sending ? "the command was sent" : "the reply came"));
    return false;
  }
  const int ready = poll_until(fd_, events, steady::now() + budget);
  if (ready > 0) return true;
  if (ready < 0) {
    fail(Failure::lost, fmt::format("connection lost: {}", std::strerror(errno)));
    return false;
  }
  fail_timeout(sending, budget);
  return false;
}

void Connection::fail_timeout(bool sending, std::chrono::milliseconds budget) {
  const std::string what = sending ? "the command could not be sent" : "no reply";
  if (budget < timeout_) {
    fail(Failure::timeout, fmt::format("{} within the call's remaining time budget of {} ms; the "
                                       "connection was dropped",
                                       what, budget.count()));
  } else {
    fail(Failure::timeout,
         fmt::format("{} within {} ms (command_timeout); the connection was dropped", what,
                     timeout_.count()));
  }
}

bool Connection::queue(int argc, const char** argv, const std::size_t* lens) {
  if (broken()) return false;
  // RESP written straight into the output buffer: hiredis's redisFormatCommandArgv allocates a
  // command per call and sprintf()s every length, which cost more than the rest of a batch
  // read's own work (callgrind, get_many of 100 keys). The buffer grows to a bound first, then
  // is cut to what was written.
  const auto count = static_cast<std::size_t>(argc);
  std::size_t bound = resp_header_max;
  for (std::size_t i = 0; i < count; ++i) bound += resp_header_max + lens[i] + 2;
  const std::size_t start = out_.size();
  if (out_.capacity() < start + bound) {
    out_.reserve(std::max(start + bound, 2 * out_.capacity()));  // pipelines grow geometrically
  }
  out_.resize(start + bound);
  char* p = put_resp_header(out_.data() + start, '*', count);
  for (std::size_t i = 0; i < count; ++i) {
    p = put_resp_header(p, '$', lens[i]);
    if (lens[i] != 0) std::memcpy(p, argv[i], lens[i]);
    p += lens[i];
    *p++ = '\r';
    *p++ = '\n';
  }
  out_.resize(static_cast<std::size_t>(p - out_.data()));
  return true;
}

bool Connection::flush() {
  if (broken()) return false;
  // A spent budget fails before anything is sent: otherwise a fast server could answer before
  // any wait looked at the deadline, and a call past its deadline would go ahead.
  if (out_sent_ < out_.size() && under_deadline() && remaining_budget(timeout_).count() <= 0) {
    fail(Failure::timeout,
         "the call's time budget was spent before the command was sent; the connection was "
         "dropped");
    return false;
  }
  while (out_sent_ < out_.size()) {
    const char* data = out_.data() + out_sent_;
    const std::size_t left = out_.size() - out_sent_;
    if (ssl_ == nullptr) {
      const bool bounded = under_deadline();
      const ssize_t sent = ::send(fd_, data, left, MSG_NOSIGNAL | (bounded ? MSG_DONTWAIT : 0));
      if (sent >= 0) {
        out_sent_ += static_cast<std::size_t>(sent);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!bounded) {  // SO_SNDTIMEO expired
          fail_timeout(true, timeout_);
          return false;
        }
        if (!wait_for(POLLOUT, true)) return false;
        continue;
      }
      fail(Failure::lost, fmt::format("connection lost: {}", std::strerror(errno)));
      return false;
    }
    ERR_clear_error();
    const int sent = SSL_write(ssl_, data, static_cast<int>(std::min<std::size_t>(left, INT_MAX)));
    if (sent > 0) {
      out_sent_ += static_cast<std::size_t>(sent);
      continue;
    }
    const int error = SSL_get_error(ssl_, sent);
    if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
      if (!wait_for(error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, true)) return false;
      continue;
    }
    if (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      fail(Failure::lost, errno == 0 ? std::string("connection closed by the server")
                                     : fmt::format("connection lost: {}", std::strerror(errno)));
      return false;
    }
    fail_tls("sending");
    return false;
  }
  out_.clear();
  out_sent_ = 0;
  if (out_.capacity() > (std::size_t{1} << 20)) out_.shrink_to_fit();  // after a huge batch
  return true;
}

bool Connection::fill(bool wait) {
  std::array<char, read_chunk> buffer;  // NOLINT(cppcoreguidelines-pro-type-member-init)
  bool got = false;
  const bool bounded = under_deadline();
  if (ssl_ == nullptr && wait && bounded && !wait_for(POLLIN, false)) return false;
  for (;;) {
    ssize_t size = 0;
    if (ssl_ == nullptr) {
      size = ::recv(fd_, buffer.data(), buffer.size(), wait && !bounded ? 0 : MSG_DONTWAIT);
      if (size == 0) {
        fail(Failure::lost, "connection closed by the server");
        return false;
      }
      if (size < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          fail(Failure::lost, fmt::format("connection lost: {}", std::strerror(errno)));
          return false;
        }
        if (!wait || got) return true;
        if (!bounded) {  // SO_RCVTIMEO expired
          fail_timeout(false, timeout_);
          return false;
        }
        if (!wait_for(POLLIN, false)) return false;
        continue;
      }
    } else {
      // TLS: read first, since a record may already sit decrypted in the session.
      ERR_clear_error();
      const int read = SSL_read(ssl_, buffer.data(), static_cast<int>(buffer.size()));
      if (read <= 0) {
        const int error = SSL_get_error(ssl_, read);
        if (error == SSL_ERROR_WANT_READ) {
          if (!wait || got) return true;
          if (!wait_for(POLLIN, false)) return false;
          continue;
        }
        if (error == SSL_ERROR_WANT_WRITE) {
          if (!wait_for(POLLOUT, false)) return false;
          continue;
        }
        if (error == SSL_ERROR_ZERO_RETURN ||
            (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0)) {
          fail(Failure::lost, "connection closed by the server");
          return false;
        }
        if (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
          fail(Failure::lost, fmt::format("connection lost: {}", std::strerror(errno)));
          return false;
        }
        fail_tls("reading");
        return false;
      }
      size = read;
    }
    if (redisReaderFeed(reader_, buffer.data(), static_cast<std::size_t>(size)) != REDIS_OK) {
      throw std::bad_alloc();  // the reader fails to take bytes only when out of memory
    }
    got = true;
    // Plain sockets: one read per wait, as hiredis does. TLS without waiting: drain the
    // session so that the caller's poll() does not miss a record it already holds.
    if (ssl_ == nullptr || wait) return true;
  }
}

bool Connection::buffered_reply(Reply& out) {
  out.reset();
  if (broken()) return false;
  void* raw = nullptr;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
    fail(Failure::protocol, fmt::format("protocol error: {}", reader_->errstr));
    return false;
  }
  out.reset(static_cast<redisReply*>(raw));
  return true;
}

bool Connection::read_available() {
  if (broken()) return false;
  return fill(false);
}

Reply Connection::command(std::initializer_list<std::string_view> args) {
  if (!append(args)) return Reply{};
  return read_reply();
}

Reply Connection::command(Args& args) {
  if (!append(args)) return Reply{};
  return read_reply();
}

bool Connection::append(Args& args) {
  return queue(static_cast<int>(args.size()), args.argv(), args.lens());
}

bool Connection::append(std::initializer_list<std::string_view> args) {
  if (broken()) return false;
  const InlineArgs inline_args(args);
  return queue(inline_args.count(), inline_args.argv(), inline_args.lens());
}

Reply Connection::read_reply() {
  if (!flush()) return Reply{};
  for (;;) {
    Reply reply;
    if (!buffered_reply(reply)) return Reply{};
    if (reply) return reply;
    if (!fill(true)) return Reply{};
  }
}

bool Connection::ping() {
  Reply reply = command({"PING"});
  if (!reply) return false;
  if (reply->type == REDIS_REPLY_STATUS && reply_text(reply.get()) == "PONG") return true;
  // An error reply (e.g. NOAUTH after an ACL change) means this connection is of no use.
  fail(Failure::lost, fmt::format("health check PING answered {}", reply_text(reply.get())));
  return false;
}

}  // namespace ttlcache::redis::detail

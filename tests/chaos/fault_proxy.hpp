// FaultProxy: a loopback TCP proxy for the chaos tests that passes, delays, blackholes or resets.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ttlcache_chaos {

/// Sits between a client and a server on 127.0.0.1 and misbehaves on request, at run time:
///
/// - pass: bytes flow both ways as they arrive;
/// - delay(d): every chunk is held for d before it is written on (in order);
/// - blackhole: every byte read is dropped, both ways; connections stay open, new ones are
///   accepted (a network that loses packets, as seen from above TCP);
/// - reset_all(): every open connection is closed with a TCP RST, to both sides, now;
/// - refuse(true): new connections are accepted and reset at once (a REJECT rule).
///
/// Each client connection gets its own upstream connection; if the server is down, the client
/// is reset (as the server's own port would refuse it).
///
/// Thread-safety: every member may be called from any thread; one thread of its own moves the
/// bytes. Bounded: nothing waits without a timeout. Exceptions: the constructor throws
/// std::runtime_error when it cannot listen.
class FaultProxy {
 public:
  explicit FaultProxy(int upstream_port) : upstream_port_(upstream_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener_ < 0) throw std::runtime_error("fault proxy: socket() failed");
    const int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address = loopback(0);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 128) != 0) {
      ::close(listener_);
      throw std::runtime_error("fault proxy: cannot listen on 127.0.0.1");
    }
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~FaultProxy() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    for (auto& link : links_) close_link(*link, false);
    ::close(listener_);
  }
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  /// The port clients connect to.
  int port() const noexcept { return port_; }

  void pass() {
    delay_ms_.store(0);
    blackhole_.store(false);
  }
  void delay(std::chrono::milliseconds d) {
    delay_ms_.store(d.count());
    blackhole_.store(false);
  }
  void blackhole() { blackhole_.store(true); }
  void refuse(bool on) { refuse_.store(on); }

  /// Resets every open connection; returns once done (or after 5 s: throws).
  void reset_all() {
    std::unique_lock<std::mutex> lock(mutex_);
    const std::uint64_t target = ++reset_requested_;
    if (!done_.wait_for(lock, std::chrono::seconds(5), [&] { return reset_done_ >= target; })) {
      throw std::runtime_error("fault proxy: reset_all not carried out within 5 s");
    }
  }

  /// Connections accepted so far, and bytes dropped by the blackhole.
  std::uint64_t accepted() const noexcept { return accepted_.load(); }
  std::uint64_t dropped_bytes() const noexcept { return dropped_.load(); }
  std::size_t open_links() const noexcept { return open_links_.load(); }

 private:
  using Clock = std::chrono::steady_clock;
  struct Chunk {
    Clock::time_point due;
    std::string bytes;
  };
  struct Link {
    int fd[2] = {-1, -1};          // 0: client side, 1: server side
    std::deque<Chunk> towards[2];  // towards[i]: bytes waiting to be written to fd[i]
    bool closed = false;
  };

  static sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }

  // RST instead of FIN: SO_LINGER with a zero timeout makes close() abort the connection.
  static void abort_fd(int fd) {
    if (fd < 0) return;
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd);
  }
  void close_link(Link& link, bool reset) {
    if (link.closed) return;
    for (int& fd : link.fd) {
      if (reset) {
        abort_fd(fd);
      } else if (fd >= 0) {
        ::close(fd);
      }
      fd = -1;
    }
    link.closed = true;
    open_links_.fetch_sub(1);
  }

  void accept_new() {
    for (int i = 0; i < 64; ++i) {
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) return;
      accepted_.fetch_add(1);
      if (refuse_.load()) {
        abort_fd(client);
        continue;
      }
      // A blocking connect on loopback answers at once (refused or accepted).
      const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address = loopback(upstream_port_);
      if (server < 0 ||
          ::connect(server, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        if (server >= 0) ::close(server);
        abort_fd(client);
        continue;
      }
      ::fcntl(server, F_SETFL, ::fcntl(server, F_GETFL) | O_NONBLOCK);
      const int one = 1;
      ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto link = std::make_unique<Link>();
      link->fd[0] = client;
      link->fd[1] = server;
      links_.push_back(std::move(link));
      open_links_.fetch_add(1);
    }
  }

  // Reads what side `from` sent; queues it towards the other side (or drops it).
  bool read_side(Link& link, int from) {
    char buffer[16384];
    for (int i = 0; i < 16; ++i) {
      const ssize_t n = ::read(link.fd[from], buffer, sizeof buffer);
      if (n == 0) return false;  // orderly close: close the other side too
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      if (blackhole_.load()) {
        dropped_.fetch_add(static_cast<std::uint64_t>(n));
        continue;
      }
      const auto due = Clock::now() + std::chrono::milliseconds(delay_ms_.load());
      link.towards[1 - from].push_back(
          Chunk{due, std::string(buffer, static_cast<std::size_t>(n))});
    }
    return true;
  }

  // Writes the due chunks towards side `to`, in order.
  bool write_side(Link& link, int to) {
    auto& queue = link.towards[to];
    const auto now = Clock::now();
    while (!queue.empty() && queue.front().due <= now) {
      std::string& bytes = queue.front().bytes;
      const ssize_t n = ::send(link.fd[to], bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      if (static_cast<std::size_t>(n) < bytes.size()) {
        bytes.erase(0, static_cast<std::size_t>(n));
        return true;
      }
      queue.pop_front();
    }
    return true;
  }

  void run() {
    std::vector<pollfd> fds;
    std::vector<std::pair<Link*, int>> owners;
    while (!stop_.load()) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (reset_requested_ != reset_done_) {
          for (auto& link : links_) close_link(*link, true);
          links_.clear();
          reset_done_ = reset_requested_;
          done_.notify_all();
        }
      }
      links_.erase(std::remove_if(links_.begin(), links_.end(),
                                  [](const std::unique_ptr<Link>& l) { return l->closed; }),
                   links_.end());
      fds.clear();
      owners.clear();
      fds.push_back({listener_, POLLIN, 0});
      owners.emplace_back(nullptr, 0);
      auto wait = std::chrono::milliseconds(5);
      const auto now = Clock::now();
      for (auto& link : links_) {
        for (int side = 0; side < 2; ++side) {
          short events = POLLIN;
          const auto& queue = link->towards[side];
          if (!queue.empty()) {
            if (queue.front().due <= now) {
              events |= POLLOUT;
            } else {
              wait = std::min(
                  wait, std::chrono::ceil<std::chrono::milliseconds>(queue.front().due - now));
            }
          }
          fds.push_back({link->fd[side], events, 0});
          owners.emplace_back(link.get(), side);
        }
      }
      const int ready =
          ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(1, wait.count())));
      if (ready < 0 && errno != EINTR) break;
      if (fds[0].revents & POLLIN) accept_new();
      for (std::size_t i = 1; i < fds.size(); ++i) {
        Link* link = owners[i].first;
        const int side = owners[i].second;
        if (link->closed) continue;
        bool ok = true;
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) ok = read_side(*link, side);
        if (ok) ok = write_side(*link, side);
        if (!ok) close_link(*link, false);
      }
    }
  }

  const int upstream_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<long long> delay_ms_{0};
  std::atomic<bool> blackhole_{false};
  std::atomic<bool> refuse_{false};
  std::atomic<std::uint64_t> accepted_{0}, dropped_{0};
  std::atomic<std::size_t> open_links_{0};
  std::mutex mutex_;
  std::condition_variable done_;
  std::uint64_t reset_requested_ = 0, reset_done_ = 0;
  std::vector<std::unique_ptr<Link>> links_;  // the proxy thread's only
  std::thread thread_;
};

}  // namespace ttlcache_chaos

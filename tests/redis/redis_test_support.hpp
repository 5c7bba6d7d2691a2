// Helpers for the Redis tests: the fixture server, fresh namespaces, a raw client, own servers.
// SPDX-License-Identifier: MIT
#pragma once

#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "ttlcache/redis.hpp"

namespace ttlcache_test {

/// The fields of a redis.info file written by redis_fixture.sh.
struct ServerInfo {
  std::string host;
  int port = 0;
  int pid = 0;
  std::string unix_socket;
  std::string acl_user;
  std::string acl_password;
  std::string script;
  std::string work_dir;
};

inline ServerInfo read_server_info(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the Redis fixture file " + path);
  std::map<std::string, std::string> fields;
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) fields[line.substr(0, eq)] = line.substr(eq + 1);
  }
  ServerInfo info;
  info.host = fields["host"];
  info.port = std::stoi(fields.at("port"));
  info.pid = std::stoi(fields.at("pid"));
  info.unix_socket = fields["unix_socket"];
  info.acl_user = fields["acl_user"];
  info.acl_password = fields["acl_password"];
  info.script = fields["script"];
  info.work_dir = fields["work_dir"];
  return info;
}

/// The server the CTest fixture started (TTLCACHE_TEST_REDIS_INFO names its info file).
inline const ServerInfo& shared_server() {
  static const ServerInfo info = [] {
    const char* path = std::getenv("TTLCACHE_TEST_REDIS_INFO");
    if (path == nullptr || *path == '\0') {
      throw std::runtime_error(
          "TTLCACHE_TEST_REDIS_INFO is not set: run the Redis tests through ctest, which starts "
          "redis-server (fixture test redis_server_start)");
    }
    return read_server_info(path);
  }();
  return info;
}

/// A namespace no other test (or test process) uses.
inline std::string unique_namespace(const std::string& tag) {
  static std::atomic<unsigned> counter{0};
  static const unsigned salt = std::random_device{}();
  return "test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(salt % 100000) +
         "-" + std::to_string(counter++);
}

inline ttlcache::redis::RedisOptions options_for(const ServerInfo& server, std::string ns) {
  ttlcache::redis::RedisOptions options;
  options.host = server.host;
  options.port = server.port;
  options.key_namespace = std::move(ns);
  return options;
}

/// Direct hiredis access for looking behind the store's back (PTTL, raw bytes, CLIENT ...).
class RawClient {
 public:
  struct Free {
    void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
  };
  using Reply = std::unique_ptr<redisReply, Free>;

  explicit RawClient(int port, const std::string& password = {}) {
    context_ = redisConnect("127.0.0.1", port);
    if (context_ == nullptr || context_->err != 0) {
      throw std::runtime_error("raw client cannot connect to port " + std::to_string(port));
    }
    if (!password.empty()) command({"AUTH", password});
  }
  ~RawClient() { redisFree(context_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  Reply command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(args.size()), argv.data(), lens.data()));
    if (reply == nullptr) throw std::runtime_error("raw client: connection failed");
    return Reply(reply);
  }
  std::string string_reply(const std::vector<std::string>& args) {
    Reply r = command(args);
    if (r->type == REDIS_REPLY_NIL) return "<nil>";
    return std::string(r->str, r->len);
  }
  long long integer_reply(const std::vector<std::string>& args) {
    Reply r = command(args);
    if (r->type != REDIS_REPLY_INTEGER) {
      throw std::runtime_error("raw client: not an integer reply: " +
                               std::string(r->str ? r->str : "?"));
    }
    return r->integer;
  }

 private:
  redisContext* context_ = nullptr;
};

inline void run_script(const std::string& command) {
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

/// A redis-server of the test's own (for AUTH with requirepass, CLIENT PAUSE, kill/restart), so
/// that nothing it does disturbs the tests sharing the fixture server.
class OwnServer {
 public:
  explicit OwnServer(std::vector<std::string> extra_args = {}) : extra_(std::move(extra_args)) {
    char pattern[] = "/tmp/ttlcache-own-redis.XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    state_dir_ = pattern;
    start(0);
  }
  ~OwnServer() {
    try {
      run_script("bash '" + shared_server().script + "' stop '" + state_dir_ + "' >/dev/null");
      run_script("rm -rf '" + state_dir_ + "'");
    } catch (...) {
    }
  }
  OwnServer(const OwnServer&) = delete;
  OwnServer& operator=(const OwnServer&) = delete;

  int port() const { return info_.port; }
  const ServerInfo& info() const { return info_; }

  /// SIGKILL: the server vanishes as in a crash (no FIN handshake for the clients' sockets
  /// beyond what the kernel sends).
  void kill_hard() {
    ::kill(info_.pid, SIGKILL);
    for (int i = 0; i < 200 && alive(info_.pid); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  /// Starts a new server on the same port.
  void restart() { start(info_.port); }

 private:
  // A zombie (exited, not yet reaped by PID 1) counts as gone: it holds no sockets.
  static bool alive(int pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("State:", 0) == 0) return line.find('Z') == std::string::npos;
    }
    return false;
  }

  void start(int port) {
    std::string command = "bash '" + shared_server().script + "' start '" + state_dir_ + "' " +
                          (port == 0 ? std::string("''") : std::to_string(port));
    for (const auto& arg : extra_) command += " '" + arg + "'";
    run_script(command + " >/dev/null");
    info_ = read_server_info(state_dir_ + "/redis.info");
  }

  std::vector<std::string> extra_;
  std::string state_dir_;
  ServerInfo info_;
};

}  // namespace ttlcache_test

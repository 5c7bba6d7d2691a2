// Helpers for the Cluster and Sentinel tests: the topologies the fixture scripts start.
// SPDX-License-Identifier: MIT
#pragma once

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "redis_test_support.hpp"
#include "ttlcache/redis.hpp"

namespace ttlcache_test {

/// key=value lines of a fixture's info file.
inline std::map<std::string, std::string> read_fields(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the fixture file " + path);
  std::map<std::string, std::string> fields;
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) fields[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return fields;
}

inline std::vector<int> numbers(const std::string& text) {
  std::istringstream in(text);
  std::vector<int> out;
  int n = 0;
  while (in >> n) out.push_back(n);
  return out;
}

/// Polls pred until it holds or timeout passes; returns whether it held.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

/// A cluster from cluster_fixture.sh: the shared one (TTLCACHE_TEST_CLUSTER_INFO) or a private
/// one this object starts and stops (for tests that kill nodes).
class ClusterSetup {
 public:
  /// The shared cluster the CTest fixture started.
  static const ClusterSetup& shared() {
    static const ClusterSetup setup = [] {
      const char* path = std::getenv("TTLCACHE_TEST_CLUSTER_INFO");
      if (path == nullptr || *path == '\0') {
        throw std::runtime_error(
            "TTLCACHE_TEST_CLUSTER_INFO is not set: run the cluster tests through ctest, which "
            "starts the cluster (fixture test redis_cluster_start)");
      }
      return ClusterSetup(path);
    }();
    return setup;
  }

  /// Starts a private cluster (cluster-node-timeout node_timeout_ms).
  static ClusterSetup own(int node_timeout_ms) {
    char pattern[] = "/tmp/ttlcache-own-cluster.XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    const std::string dir = pattern;
    run_script("bash '" TTLCACHE_CLUSTER_FIXTURE "' start '" + dir + "' " +
               std::to_string(node_timeout_ms) + " >/dev/null");
    ClusterSetup setup(dir + "/cluster.info");
    setup.own_dir_ = dir;
    return setup;
  }

  ClusterSetup(ClusterSetup&& other) noexcept
      : ports_(std::move(other.ports_)),
        pids_(std::move(other.pids_)),
        own_dir_(std::move(other.own_dir_)) {
    other.own_dir_.clear();
  }
  ClusterSetup& operator=(ClusterSetup&&) = delete;
  ClusterSetup(const ClusterSetup&) = delete;
  ClusterSetup& operator=(const ClusterSetup&) = delete;
  ~ClusterSetup() {
    if (own_dir_.empty()) return;
    try {
      run_script("bash '" TTLCACHE_CLUSTER_FIXTURE "' stop '" + own_dir_ + "' >/dev/null");
      run_script("rm -rf '" + own_dir_ + "'");
    } catch (...) {
    }
  }

  const std::vector<int>& ports() const { return ports_; }
  int pid_of(int port) const {
    for (std::size_t i = 0; i < ports_.size(); ++i) {
      if (ports_[i] == port) return pids_[i];
    }
    throw std::runtime_error("no node on port " + std::to_string(port));
  }

  /// "redis+cluster://127.0.0.1:p1,127.0.0.1:p2,..." with the first `seeds` nodes.
  std::string url(std::size_t seeds = 3) const {
    std::string url = "redis+cluster://";
    for (std::size_t i = 0; i < seeds && i < ports_.size(); ++i) {
      if (i != 0) url += ',';
      url += "127.0.0.1:" + std::to_string(ports_[i]);
    }
    return url;
  }

  ttlcache::redis::RedisOptions options(const std::string& ns, std::size_t seeds = 3) const {
    auto options = ttlcache::redis::RedisOptions::from_url(url(seeds));
    options.key_namespace = ns;
    return options;
  }

  /// The port of the master serving a hash slot, from CLUSTER SLOTS asked of a live node.
  int master_of_slot(int slot, int ask_port) const {
    RawClient raw(ask_port);
    auto reply = raw.command({"CLUSTER", "SLOTS"});
    for (std::size_t i = 0; i < reply->elements; ++i) {
      const redisReply* range = reply->element[i];
      if (range->element[0]->integer <= slot && slot <= range->element[1]->integer) {
        return static_cast<int>(range->element[2]->element[1]->integer);
      }
    }
    throw std::runtime_error("no master for slot " + std::to_string(slot));
  }

  /// Ports of the nodes that are masters right now (ROLE), asking each live node.
  std::vector<int> masters() const {
    std::vector<int> out;
    for (int port : ports_) {
      try {
        RawClient raw(port);
        auto reply = raw.command({"ROLE"});
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
            std::string(reply->element[0]->str, reply->element[0]->len) == "master") {
          out.push_back(port);
        }
      } catch (const std::exception&) {  // a stopped node
      }
    }
    return out;
  }

 private:
  explicit ClusterSetup(const std::string& info_path) {
    const auto fields = read_fields(info_path);
    ports_ = numbers(fields.at("ports"));
    pids_ = numbers(fields.at("pids"));
    if (ports_.size() != 6 || pids_.size() != 6) {
      throw std::runtime_error("the cluster info file does not list six nodes");
    }
  }

  std::vector<int> ports_;
  std::vector<int> pids_;
  std::string own_dir_;
};

/// The kind of a backend error seen during a failover, for the figures the tests print.
inline std::string error_kind(const ttlcache::backend_error& e) {
  if (std::string(e.what()).find("CLUSTERDOWN") != std::string::npos) return "CLUSTERDOWN";
  if (dynamic_cast<const ttlcache::connection_error*>(&e) != nullptr) return "connection_error";
  if (dynamic_cast<const ttlcache::timeout_error*>(&e) != nullptr) return "timeout_error";
  return "backend_error";
}

/// "a, b, c".
template <class Strings>
std::string join(const Strings& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

/// True when nothing accepts connections on 127.0.0.1:port any more.
inline bool port_refuses(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool refused = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
                       errno == ECONNREFUSED;
  ::close(fd);
  return refused;
}

/// Sends SIGKILL to pid and waits until it is really dead: the process gone (or a zombie,
/// which holds no sockets) and, with a port, that port refusing connections. A test that goes
/// on before that can see the victim still answer. Throws after 10 s.
inline void kill_process(int pid, int port = 0) {
  ::kill(pid, SIGKILL);
  const bool dead = eventually(
      [pid, port] {
        std::ifstream status("/proc/" + std::to_string(pid) + "/status");
        std::string line;
        bool gone = true;
        while (std::getline(status, line)) {
          if (line.rfind("State:", 0) == 0) gone = line.find('Z') != std::string::npos;
        }
        return gone && (port == 0 || port_refuses(port));
      },
      std::chrono::seconds(10));
  if (!dead) {
    throw std::runtime_error("kill_process: pid " + std::to_string(pid) +
                             (port != 0 ? " (port " + std::to_string(port) + ")" : "") +
                             " still alive 10 s after SIGKILL");
  }
}

}  // namespace ttlcache_test

// Shared by the TLS tests (test_redis_tls.cpp and its concurrency case in
// test_redis_tls_concurrency.cpp): the fixture's servers (tls.info, from tls_fixture.sh), key
// namespaces, and rediss:// options trusting the fixture's CA.
// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include <unistd.h>

#include "ttlcache/redis.hpp"

namespace ttlcache_test {
// (Its own namespace: redis_test_support.hpp has another unique_namespace.)
namespace tls {

/// The fields of tls.info, written by tls_fixture.sh.
struct TlsInfo {
  std::map<std::string, std::string> fields;
  int port(const std::string& name) const { return std::stoi(fields.at(name + "_port")); }
  const std::string& operator[](const std::string& name) const { return fields.at(name); }
};

inline const TlsInfo& tls_servers() {
  static const TlsInfo info = [] {
    const char* path = std::getenv("TTLCACHE_TEST_TLS_INFO");
    if (path == nullptr || *path == '\0') {
      throw std::runtime_error(
          "TTLCACHE_TEST_TLS_INFO is not set: run the TLS tests through ctest, which starts the "
          "TLS servers (fixture test redis_tls_start)");
    }
    std::ifstream in(path);
    if (!in) throw std::runtime_error(std::string("cannot read the TLS fixture file ") + path);
    TlsInfo out;
    std::string line;
    while (std::getline(in, line)) {
      const auto eq = line.find('=');
      if (eq != std::string::npos) out.fields[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return out;
  }();
  return info;
}

inline std::string unique_namespace(const std::string& tag) {
  static std::atomic<unsigned> counter{0};
  return "tls-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

/// rediss:// to the named fixture server, trusting the fixture's CA.
inline ttlcache::redis::RedisOptions tls_options(const std::string& server,
                                                 const std::string& tag) {
  ttlcache::redis::RedisOptions options = ttlcache::redis::RedisOptions::from_url(
      "rediss://127.0.0.1:" + std::to_string(tls_servers().port(server)));
  options.tls_ca_file = tls_servers()["ca_file"];
  options.key_namespace = unique_namespace(tag);
  options.connect_timeout = std::chrono::seconds(3);
  options.command_timeout = std::chrono::seconds(3);
  return options;
}

}  // namespace tls
}  // namespace ttlcache_test

// One process of the distributed single-flight test: get_or_load of one missing key, with the
// load guarded by a RedisLockService shared by all peers.
// SPDX-License-Identifier: MIT
//
// usage: load_peer <port> <namespace> <key>
// Prints "ready", waits until the key "go" exists (so all peers miss together), then calls
// get_or_load(key) whose loader takes 300 ms. Prints "loaded <value>" if this process ran the
// loader, else "waited <value>", and exits 0; on any error prints it to stderr and exits 1.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "ttlcache/redis.hpp"
#include "ttlcache/ttlcache.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <port> <namespace> <key>\n", argv[0]);
    return 2;
  }
  try {
    using namespace std::chrono_literals;
    ttlcache::redis::RedisOptions redis;
    redis.port = std::atoi(argv[1]);
    redis.key_namespace = argv[2];
    const std::string key = argv[3];
    auto store = std::make_shared<ttlcache::redis::RedisStore>(redis);
    ttlcache::CacheOptions options;
    options.name = "peers";
    options.loading.lock_service = std::make_shared<ttlcache::redis::RedisLockService>(redis);
    options.loading.lock_wait = 10s;
    options.loading.lock_poll = 5ms;
    ttlcache::Cache<std::string, std::string> cache(
        ttlcache::redis::make_backend<std::string, std::string>(store), options);
    std::printf("ready\n");
    std::fflush(stdout);

    const auto give_up = std::chrono::steady_clock::now() + 60s;
    while (!store->contains("go")) {
      if (std::chrono::steady_clock::now() > give_up) {
        std::fprintf(stderr, "load_peer: no \"go\" within 60 s\n");
        return 1;
      }
      std::this_thread::sleep_for(1ms);
    }
    bool loaded = false;
    const std::string value = cache.get_or_load(
        key,
        [&] {
          loaded = true;
          std::this_thread::sleep_for(300ms);  // a slow query every peer would otherwise repeat
          return "value-from-" + std::to_string(::getpid());
        },
        60s);
    std::printf("%s %s\n", loaded ? "loaded" : "waited", value.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "load_peer: %s\n", e.what());
    return 1;
  }
}

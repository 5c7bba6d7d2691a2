// Process B of the multi-process invalidation test: holds "item" in its L1 and reports changes.
// SPDX-License-Identifier: MIT
//
// usage: inval_peer <port> <namespace> <channel> <l1_max_ttl_ms>
// Prints "ready" once subscribed, then polls cache.get("item") in a loop and prints
// "<value or <miss>> <steady_clock ns>" every time the answer changes; stops after seeing
// "quit" and prints "stats l1_hits=<n> l2_hits=<n> resets=<n> received=<n>".
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "ttlcache/redis.hpp"
#include "ttlcache/ttlcache.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s <port> <namespace> <channel> <l1_max_ttl_ms>\n", argv[0]);
    return 2;
  }
  try {
    ttlcache::redis::RedisOptions redis;
    redis.port = std::atoi(argv[1]);
    redis.key_namespace = argv[2];
    auto store = std::make_shared<ttlcache::redis::RedisStore>(redis);
    ttlcache::redis::PubSubOptions bus_options;
    bus_options.redis = redis;
    bus_options.channel = argv[3];
    auto bus = std::make_shared<ttlcache::redis::PubSubBus>(bus_options);
    ttlcache::TieredOptions tiered;
    tiered.l1_max_ttl = std::chrono::milliseconds(std::atoi(argv[4]));
    auto parts = ttlcache::redis::make_tiered_backend<std::string, std::string>(store, bus, tiered);
    ttlcache::Cache<std::string, std::string> cache(parts.backend);
    if (!bus->wait_until_subscribed(std::chrono::seconds(10))) {
      std::fprintf(stderr, "inval_peer: not subscribed within 10 s\n");
      return 1;
    }
    std::printf("ready\n");
    std::fflush(stdout);
    std::string last = "<start>";
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    while (std::chrono::steady_clock::now() < give_up) {
      const auto value = cache.get("item");
      const std::string now_value = value ? *value : "<miss>";
      if (now_value != last) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
        std::printf("%s %lld\n", now_value.c_str(), static_cast<long long>(ns));
        std::fflush(stdout);
        last = now_value;
        if (now_value == "quit") break;
      }
      std::this_thread::yield();
    }
    const auto s = parts.tiered->stats();
    std::printf("stats l1_hits=%llu l2_hits=%llu resets=%llu received=%llu\n",
                static_cast<unsigned long long>(s.l1_hits),
                static_cast<unsigned long long>(s.l2_hits),
                static_cast<unsigned long long>(s.resets),
                static_cast<unsigned long long>(s.invalidations_received));
    std::fflush(stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inval_peer: %s\n", e.what());
    return 1;
  }
}

// One process of the multi-process lock test: increments a Redis counter under a RedisLock.
// SPDX-License-Identifier: MIT
//
// usage: lock_peer <port> <namespace> <lock name> <iterations>
// Prints "ready", waits until the key "go" exists (so all peers start together), then
// <iterations> times: takes the lock, reads the key "counter", yields, writes it back plus one
// (a GET then a SET: two processes doing this unguarded lose increments), releases the lock.
// Prints "done <iterations> lost=<releases that found the lock gone>" and exits 0; on any
// error prints it to stderr and exits 1.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "ttlcache/redis.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s <port> <namespace> <lock name> <iterations>\n", argv[0]);
    return 2;
  }
  try {
    using namespace std::chrono_literals;
    ttlcache::redis::RedisOptions redis;
    redis.port = std::atoi(argv[1]);
    redis.key_namespace = argv[2];
    const std::string name = argv[3];
    const int iterations = std::atoi(argv[4]);
    ttlcache::redis::RedisStore store(redis);
    ttlcache::redis::RedisLockService locks(redis);
    std::printf("ready\n");
    std::fflush(stdout);

    const auto give_up = std::chrono::steady_clock::now() + 60s;
    while (!store.contains("go")) {
      if (std::chrono::steady_clock::now() > give_up) {
        std::fprintf(stderr, "lock_peer: no \"go\" within 60 s\n");
        return 1;
      }
      std::this_thread::sleep_for(1ms);
    }

    int lost = 0;
    for (int i = 0; i < iterations; ++i) {
      // A lease far longer than the critical section, and a wait far longer than the whole run
      // takes even under sanitizers on a loaded machine: neither may decide the outcome.
      auto lock = locks.try_lock_for(name, 30s, 120s);
      if (!lock) {
        std::fprintf(stderr, "lock_peer: lock %s not acquired within 120 s\n", name.c_str());
        return 1;
      }
      const auto current = store.get("counter");
      const long long value = current ? std::stoll(*current) : 0;
      std::this_thread::yield();  // widens the read-modify-write window
      store.set("counter", std::to_string(value + 1), 1h);
      if (!lock->release()) ++lost;
    }
    std::printf("done %d lost=%d\n", iterations, lost);
    std::fflush(stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lock_peer: %s\n", e.what());
    return 1;
  }
}

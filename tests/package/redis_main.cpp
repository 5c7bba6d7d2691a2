// Package consumer for ttlcache::redis: links the Redis part without a server (no connection).
// SPDX-License-Identifier: MIT
#include <ttlcache/redis.hpp>

#include <cstdio>

int main() {
  auto options = ttlcache::redis::RedisOptions::from_url("redis://user:secret@127.0.0.1:6390/2");
  const bool ok = options.port == 6390 && options.db == 2 && options.user == "user";
  std::printf("ttlcache::redis consumer: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}

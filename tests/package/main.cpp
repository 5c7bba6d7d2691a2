// Package consumer: uses the core API through the installed (or added) ttlcache.
// SPDX-License-Identifier: MIT
#include <ttlcache/ttlcache.hpp>

#include <chrono>
#include <cstdio>
#include <string>

int main() {
  ttlcache::Cache<std::string, int> cache;
  cache.set("answer", 42, std::chrono::seconds(10));
  const int loaded = cache.get_or_load("other", [] { return 7; });
  const bool ok = cache.get("answer") == 42 && loaded == 7 &&
                  std::string(ttlcache::version_string) == TTLCACHE_CMAKE_VERSION;
  std::printf("ttlcache %s consumer: %s\n", ttlcache::version_string, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}

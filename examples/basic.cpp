// The main example: an in-process ttlcache in front of a slow "database".
// SPDX-License-Identifier: MIT
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <ttlcache/builder.hpp>
#include <ttlcache/key.hpp>
#include <ttlcache/version.hpp>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Stands in for a database: every query takes 5 ms and is counted.
class SlowDatabase {
 public:
  std::string load_profile(const std::string& key) {
    ++queries_;
    std::this_thread::sleep_for(5ms);
    return "profile for " + key;
  }
  int queries() const { return queries_.load(); }

 private:
  std::atomic<int> queries_{0};
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

int main() {
  SlowDatabase db;

  std::atomic<int> evicted{0};
  auto cache =
      ttlcache::CacheBuilder<std::string, std::string>("profiles")
          .max_entries(1000)
          .on_removal([&](const std::string&, const std::string&, ttlcache::RemovalCause c) {
            if (c == ttlcache::RemovalCause::evicted) ++evicted;
          })
          .build();
  auto load = [&](const std::string& key) { return db.load_profile(key); };

  std::printf("ttlcache %s: %s backend\n\n", ttlcache::version_string,
              std::string(cache.backend().name()).c_str());

  // 1. Read-through: the first read goes to the database, the next ones do not.
  const std::string key = ttlcache::make_key("profile", 42);
  auto start = Clock::now();
  cache.get_or_load(key, load, 10min);
  const double cold = ms_since(start);
  start = Clock::now();
  for (int i = 0; i < 1000; ++i) cache.get_or_load(key, load, 10min);
  const double warm = ms_since(start) / 1000;
  std::printf("1. read-through  first read %.2f ms (database), next reads %.5f ms (cache)\n", cold,
              warm);

  // 2. Stampede protection: 32 threads miss the same key at once; the database sees one query.
  const int before = db.queries();
  std::vector<std::thread> threads;
  threads.reserve(32);
  for (int t = 0; t < 32; ++t) {
    threads.emplace_back([&] { cache.get_or_load("profile:hot", load, 10min); });
  }
  for (auto& th : threads) th.join();
  std::printf("2. single-flight 32 concurrent misses on one key -> %d database query\n",
              db.queries() - before);

  // 3. TTL: an entry is gone once its lifetime has passed.
  cache.set("session:abc", "token", 50ms);
  const bool fresh = cache.contains("session:abc");
  std::this_thread::sleep_for(60ms);
  std::printf("3. ttl           present after 0 ms: %s, after 60 ms: %s\n", fresh ? "yes" : "no",
              cache.contains("session:abc") ? "yes" : "no");

  // 4. Bounded: 5,000 distinct keys into a 1,000-entry cache evict the least valuable entries
  // (W-TinyLFU by default: by recency and frequency).
  for (int i = 0; i < 5000; ++i) cache.set(ttlcache::make_key("item", i), "v", 10min);
  std::printf("4. bounded       5000 inserts, size %zu, %d evicted\n", cache.size(),
              evicted.load());

  std::printf("\ndatabase queries in total: %d\n", db.queries());
  return db.queries() == 2 ? 0 : 1;
}

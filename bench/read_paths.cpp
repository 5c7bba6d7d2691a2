// Instructions per in-process read (hit, miss, zero-copy visit) against a bare unordered_map, for
// callgrind (scripts/compare_read_instructions). Uses only API both compared revisions have.
// SPDX-License-Identifier: MIT
//
// Usage: read_paths <path>, path one of find_hit find_miss get_hit get_miss visit cache_get_hit
// cache_get_miss, each optionally with the suffix _zipf. Each path runs `reads` reads inside one
// noinline function named run_<path without _zipf>, so callgrind can count that function alone
// (--toggle-collect=run_<path>*). The workload mirrors bench_hit_path: uint64 keys, 32-byte
// string values, 100,000 entries, capacity = key count; reads of uniformly drawn keys 0..N-1,
// or with _zipf, of Zipf(0.99) ranks scrambled into keys as bench_hit_path draws them (the hot
// set then stays in the CPU caches, as in that benchmark).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <ttlcache/cache.hpp>
#include <ttlcache/memory_backend.hpp>
#include <unordered_map>
#include <vector>

#include "zipf.hpp"

namespace {

using Key = std::uint64_t;
using Value = std::string;
constexpr std::size_t key_count = 100'000;
constexpr std::size_t reads = 200'000;

using Map = std::unordered_map<Key, Value>;
using Backend = ttlcache::MemoryBackend<Key, Value>;
using Facade = ttlcache::Cache<Key, Value>;

// The key of rank r in the stored set: itself (uniform paths) or scrambled (Zipf paths).
Key key_of(Key rank, bool zipf) { return zipf ? ttlcache::bench::scramble(rank) : rank; }

// The same keys for every path and revision (fixed seeds); `offset` shifts them past the key set.
std::vector<Key> keys(Key offset, bool zipf) {
  std::vector<Key> out;
  if (zipf) {
    const ttlcache::bench::Zipf draw(key_count, 0.99);
    std::mt19937_64 rng(7);
    for (std::size_t i = 0; i < reads; ++i) out.push_back(offset + key_of(draw(rng), true));
    return out;
  }
  // xorshift64
  std::uint64_t x = 88172645463325252ULL;
  for (std::size_t i = 0; i < reads; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out.push_back(offset + x % key_count);
  }
  return out;
}

ttlcache::MemoryOptions<Key, Value> options() {
  ttlcache::MemoryOptions<Key, Value> o;
  o.max_entries = key_count;
  return o;
}

}  // namespace

__attribute__((noinline)) std::size_t run_find_hit(const Map& m, const std::vector<Key>& ks) {
  std::size_t n = 0;
  for (Key k : ks) n += m.find(k) != m.end() ? 1 : 0;
  return n;
}
__attribute__((noinline)) std::size_t run_find_miss(const Map& m, const std::vector<Key>& ks) {
  return run_find_hit(m, ks);
}
__attribute__((noinline)) std::size_t run_get_hit(Backend& b, const std::vector<Key>& ks) {
  std::size_t n = 0;
  for (Key k : ks) n += b.get(k) ? 1 : 0;
  return n;
}
__attribute__((noinline)) std::size_t run_get_miss(Backend& b, const std::vector<Key>& ks) {
  return run_get_hit(b, ks);
}
__attribute__((noinline)) std::size_t run_visit(Backend& b, const std::vector<Key>& ks) {
  std::size_t n = 0;
  for (Key k : ks) b.visit(k, [&n](const Value& v) { n += v.size(); });
  return n;
}
__attribute__((noinline)) std::size_t run_cache_get_hit(Facade& c, const std::vector<Key>& ks) {
  std::size_t n = 0;
  for (Key k : ks) n += c.get(k) ? 1 : 0;
  return n;
}
__attribute__((noinline)) std::size_t run_cache_get_miss(Facade& c, const std::vector<Key>& ks) {
  return run_cache_get_hit(c, ks);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr,
                 "usage: read_paths <find_hit|find_miss|get_hit|get_miss|visit|"
                 "cache_get_hit|cache_get_miss>[_zipf]\n");
    return 2;
  }
  std::string path = argv[1];
  const std::string suffix = "_zipf";
  const bool zipf = path.size() > suffix.size() &&
                    path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  if (zipf) path.resize(path.size() - suffix.size());
  const bool miss = path.find("miss") != std::string::npos;
  // Misses read key + key_count: for scrambled keys (spread over 64 bits), in practice never
  // stored.
  const std::vector<Key> ks = keys(miss ? key_count : 0, zipf);
  const Value value(32, 'x');
  std::size_t n = 0;
  if (path.rfind("find", 0) == 0) {
    Map m;
    for (Key r = 0; r < key_count; ++r) m.emplace(key_of(r, zipf), value);
    n = miss ? run_find_miss(m, ks) : run_find_hit(m, ks);
  } else if (path.rfind("cache", 0) == 0) {
    Facade c(options());
    for (Key r = 0; r < key_count; ++r) c.set(key_of(r, zipf), value, std::chrono::minutes(5));
    n = miss ? run_cache_get_miss(c, ks) : run_cache_get_hit(c, ks);
  } else {
    Backend b(options());
    for (Key r = 0; r < key_count; ++r) b.set(key_of(r, zipf), value, std::chrono::minutes(5));
    if (path == "visit") {
      n = run_visit(b, ks);
    } else {
      n = miss ? run_get_miss(b, ks) : run_get_hit(b, ks);
    }
  }
  std::printf("%zu\n", n);
  return 0;
}

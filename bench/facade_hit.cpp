// Instructions per Cache<uint64_t, string> get hit, for comparing two revisions of the headers
// under callgrind (scripts/compare_hit_instructions). Uses only API both sides have.
// SPDX-License-Identifier: MIT
#include <cstdint>
#include <cstdio>
#include <string>
#include <ttlcache/cache.hpp>
#include <vector>

__attribute__((noinline)) std::size_t run_gets(ttlcache::Cache<std::uint64_t, std::string>& cache,
                                               const std::vector<std::uint64_t>& keys) {
  std::size_t found = 0;
  for (auto k : keys) found += cache.get(k) ? 1 : 0;
  return found;
}

int main() {
  ttlcache::MemoryOptions<std::uint64_t, std::string> memory;
  memory.max_entries = 200'000;
  ttlcache::Cache<std::uint64_t, std::string> cache(memory);
  for (std::uint64_t i = 0; i < 100'000; ++i) {
    cache.set(i, std::string(32, 'x'), std::chrono::minutes(5));
  }
  std::vector<std::uint64_t> keys;
  std::uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 200'000; ++i) {  // xorshift: the same keys on both sides
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    keys.push_back(x % 100'000);
  }
  std::size_t f = run_gets(cache, keys);
  std::printf("%zu\n", f);
}

// Trace replay: hit ratio and throughput of the in-process backend on a recorded key trace.
// SPDX-License-Identifier: MIT
//
// Usage: replay [--policy lru|tinylfu] [--shards N] [--format auto|xz-int32be|text]
//               [--warmup N] TRACE CAPACITY [CAPACITY...]
// Each record is replayed as get(key) and, on a miss, set(key) (the convention of the
// traces' README); the first N requests (--warmup) are replayed but not counted.
// Formats: xz-compressed big-endian int32 (cache2k traces, decompressed with `xz -dc`) or
// text with one decimal integer per line (libCacheSim samples); "auto" picks by extension.
// TRACE may also be zipf:N:S:LENGTH, a synthetic stream of LENGTH Zipf(S) draws over N
// keys (fixed seed); its popularity bound (the hit ratio of holding the most popular keys)
// is printed.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "trace_reader.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/tinylfu_policy.hpp"
#include "zipf.hpp"

namespace {

struct Result {
  double hit_ratio;
  double million_ops_per_s;
};

template <class Policy>
Result replay(const std::vector<std::int64_t>& trace, std::size_t capacity, std::uint32_t shards,
              std::size_t warmup) {
  ttlcache::MemoryOptions<std::int64_t, std::int64_t> o;
  o.max_entries = capacity;
  o.shards = shards;
  ttlcache::MemoryBackend<std::int64_t, std::int64_t, Policy> cache(o);
  std::size_t hits = 0;
  std::size_t seen = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const std::int64_t key : trace) {
    if (cache.get(key)) {
      if (seen >= warmup) ++hits;
      ++seen;
    } else {
      ++seen;
      cache.set(key, key, std::chrono::hours(24));
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {static_cast<double>(hits) / static_cast<double>(trace.size() - warmup),
          static_cast<double>(trace.size()) / seconds / 1e6};
}

int usage() {
  std::fprintf(stderr,
               "usage: replay [--policy lru|tinylfu] [--shards N] [--format auto|xz-int32be|text] "
               "[--warmup N] "
               "TRACE CAPACITY [CAPACITY...]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string policy = "lru";
  std::string format = "auto";
  std::uint32_t shards = 1;
  std::size_t warmup = 0;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--policy" || arg == "--shards" || arg == "--format" || arg == "--warmup") &&
        i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "--policy") policy = value;
      if (arg == "--shards") shards = static_cast<std::uint32_t>(std::stoul(value));
      if (arg == "--format") format = value;
      if (arg == "--warmup") warmup = std::stoul(value);
    } else if (arg.substr(0, 2) == "--") {
      return usage();
    } else {
      positional.emplace_back(arg);
    }
  }
  if (positional.size() < 2) return usage();
  const std::string& path = positional[0];
  std::vector<std::int64_t> trace;
  std::size_t zipf_n = 0;
  double zipf_s = 0;
  try {
    if (path.rfind("zipf:", 0) == 0) {
      std::size_t length = 0;
      if (std::sscanf(path.c_str(), "zipf:%zu:%lf:%zu", &zipf_n, &zipf_s, &length) != 3) {
        return usage();
      }
      for (const std::uint64_t k : ttlcache::bench::zipf_keys(zipf_n, zipf_s, length)) {
        trace.push_back(static_cast<std::int64_t>(k));
      }
    } else {
      trace = ttlcache::bench::read_trace(path, format);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "replay: %s\n", e.what());
    return 1;
  }
  if (trace.size() <= warmup) {
    std::fprintf(stderr, "replay: no records read from %s\n", path.c_str());
    return 1;
  }
  std::printf("trace %s: %zu requests, policy %s, %u shard(s)\n", path.c_str(), trace.size(),
              policy.c_str(), shards);
  std::printf("%10s %10s %12s\n", "capacity", "hit %", "Mops/s");
  for (std::size_t i = 1; i < positional.size(); ++i) {
    const std::size_t capacity = std::stoul(positional[i]);
    Result r{};
    if (policy == "lru") {
      r = replay<ttlcache::LruPolicy>(trace, capacity, shards, warmup);
    } else if (policy == "tinylfu") {
      r = replay<ttlcache::TinyLfuPolicy>(trace, capacity, shards, warmup);
    } else {
      std::fprintf(stderr, "replay: unknown policy '%s' (have: lru, tinylfu)\n", policy.c_str());
      return 2;
    }
    std::printf("%10zu %10.2f %12.2f", capacity, 100.0 * r.hit_ratio, r.million_ops_per_s);
    if (zipf_n != 0) {
      std::printf("   popularity bound %.2f",
                  100.0 * ttlcache::bench::Zipf(zipf_n, zipf_s).popularity_bound(capacity));
    }
    std::printf("\n");
  }
  return 0;
}

// The web-app scenario's cache set-ups: in-process, Redis, or both tiers, each tag-aware and on
// the scenario's virtual clock (CacheBuilder puts the layers together).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <ttlcache/builder.hpp>
#include <ttlcache/ttlcache.hpp>
#ifdef TTLCACHE_WEBAPP_REDIS
#include <ttlcache/redis.hpp>
#endif

#include "scenario.hpp"

/// Pages travel to Redis as bytes: version, build time, then the body as is (JSON would
/// escape and parse kilobytes per read for nothing).
template <>
struct ttlcache::ValueCodec<webapp::Page> {
  static std::string encode(const webapp::Page& p) {
    std::string out;
    out.reserve(16 + p.body.size());
    put(out, p.version);
    put(out, static_cast<std::uint64_t>(p.built_at));
    return out + p.body;
  }
  static std::optional<webapp::Page> decode(std::string_view bytes) noexcept {
    if (bytes.size() < 16) return std::nullopt;
    try {
      webapp::Page p;
      p.version = get(bytes, 0);
      p.built_at = static_cast<std::int64_t>(get(bytes, 8));
      p.body.assign(bytes.substr(16));
      return p;
    } catch (...) {  // out of memory: a miss
      return std::nullopt;
    }
  }

 private:
  static void put(std::string& out, std::uint64_t v) {  // little-endian on every host
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  static std::uint64_t get(std::string_view in, std::size_t at) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
    }
    return v;
  }
};

namespace webapp {

using PageCache = ttlcache::Cache<std::string, Page>;
using PageCacheBuilder = ttlcache::CacheBuilder<std::string, Page>;

/// Where the scenario's cache lives: a builder with the storage, tags and the virtual clock
/// set (the run adds its TTL policy and loading features), what the cache costs in memory, and
/// how to clean up.
/// Times come from the one clock: on Redis too, an entry's freshness follows the virtual day
/// (the builder keeps entry times beside the value); Redis's own expiry (TTL, in real time)
/// only reclaims the key later.
struct Store {
  std::string name;
  PageCacheBuilder builder{"webapp"};
  /// The cache's memory now, from its statistics (Redis: used_memory).
  std::function<double(const ttlcache::CacheStats&)> memory_mb;
  std::string memory_source;
  std::function<void()> cleanup;  ///< removes what the run left in a shared server
};

/// Bytes of a page in process: key and body. Weighed for the memory figure only, so the bound
/// is the entry count; the builder has no weigher without a weight bound, hence "no limit".
inline std::size_t page_weight(const std::string& key, const Page& page) {
  return key.size() + page.body.size();
}
constexpr std::uint64_t kNoWeightLimit = std::numeric_limits<std::uint64_t>::max();

/// Key and value bytes plus the store's per-entry overhead (~100 bytes, see
/// docs/performance.md).
inline double in_process_bytes(const ttlcache::CacheStats& s) {
  return static_cast<double>(s.weight_bytes.value_or(0)) +
         100.0 * static_cast<double>(s.entries.value_or(0));
}

inline Store memory_store(const std::shared_ptr<ttlcache::FakeClock>& clock) {
  Store s;
  s.name = "in-process";
  s.builder.max_entries(100'000).max_weight(kNoWeightLimit, page_weight).tags().clock(clock);
  s.memory_mb = [](const ttlcache::CacheStats& st) { return in_process_bytes(st) / 1e6; };
  s.memory_source = "keys + values + ~100 B per entry";
  s.cleanup = [] {};
  return s;
}

#ifdef TTLCACHE_WEBAPP_REDIS
/// kind: "redis" (every read goes to Redis) or "tiered" (an in-process L1 in front of Redis,
/// kept coherent over pub/sub). Keys live under a namespace of their own, removed at the end.
inline Store redis_store(const std::string& kind, const std::string& url,
                         const std::shared_ptr<ttlcache::FakeClock>& clock) {
  namespace redis = ttlcache::redis;
  auto options = redis::RedisOptions::from_url(url);
  // One namespace per kind of run: a rerun reuses it (cleared here) rather than leaving
  // another set of tag versions behind (they live outside the namespace, until they expire).
  options.key_namespace = "webapp-" + kind;
  options.client_name = "webapp";
  auto clear = [options] { redis::RedisStore(options).clear(); };
  clear();  // also fails early, with a clear error, when Redis is not there

  Store s;
  s.cleanup = clear;
  s.builder.redis(options).tags().clock(clock);
  if (kind == "tiered") {
    s.name = "tiered (in-process L1 + Redis)";
    // L1 entries and tag versions are re-checked against Redis after this long (virtual
    // time): the staleness bound should an invalidation message be lost.
    s.builder.tiered(std::chrono::seconds(30))
        .max_entries(20'000)
        .max_weight(kNoWeightLimit, page_weight);
    // Redis's used_memory plus the L1, counted as for the in-process backend.
    s.memory_mb = [](const ttlcache::CacheStats& st) {
      return (static_cast<double>(st.remote_used_memory.value_or(0)) + in_process_bytes(st)) / 1e6;
    };
    s.memory_source = "Redis used_memory (whole server) + in-process L1";
    return s;
  }
  s.name = "Redis";
  s.memory_mb = [](const ttlcache::CacheStats& st) {
    return static_cast<double>(st.remote_used_memory.value_or(0)) / 1e6;
  };
  s.memory_source = "Redis used_memory (whole server)";
  return s;
}
#endif

}  // namespace webapp

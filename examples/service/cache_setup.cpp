// make_service_cache: backend layering, DynamicTTL and loading options of the service.
// SPDX-License-Identifier: MIT
#include "cache_setup.hpp"

#include <ttlcache/dynamic_ttl.hpp>
#include <ttlcache/fail_safe.hpp>
#include <ttlcache/tags.hpp>

#include <stdexcept>

#ifdef TTLCACHE_SERVICE_REDIS
#include <ttlcache/redis.hpp>
#endif

namespace service {

namespace {

using Entry = ttlcache::Tagged<ttlcache::Timed<std::string>>;
using TimedBackend = ttlcache::Backend<std::string, ttlcache::Timed<std::string>>;

ttlcache::MemoryOptions<std::string, Entry> memory_options(std::uint64_t max_bytes) {
  ttlcache::MemoryOptions<std::string, Entry> memory;
  memory.max_entries = 0;  // bounded by bytes instead: bodies range from 100 B to 60 kB
  memory.max_weight = max_bytes;
  memory.weigher = [](const std::string& key, const Entry& e) {
    return key.size() + e.value.value.size();
  };
  return memory;
}

std::shared_ptr<TimedBackend> tagged_backend(const CacheSettings& s) {
  if (s.topology == "in-process") {
    return ttlcache::make_tagged_memory_backend<std::string, ttlcache::Timed<std::string>>(
        memory_options(s.max_bytes));
  }
#ifdef TTLCACHE_SERVICE_REDIS
  namespace redis = ttlcache::redis;
  if (s.topology == "redis" || s.topology == "tiered") {
    auto options = redis::RedisOptions::from_url(s.redis_url);
    options.key_namespace = s.key_namespace;
    options.client_name = "ttlcache-service";
    auto store = std::make_shared<redis::RedisStore>(options);
    if (s.topology == "redis") {
      return redis::make_tagged_backend<std::string, ttlcache::Timed<std::string>>(store);
    }
    redis::PubSubOptions bus_options;
    bus_options.redis = options;
    bus_options.channel = s.key_namespace + ":invalidation";
    auto bus = std::make_shared<redis::PubSubBus>(bus_options);
    bus->wait_until_subscribed(std::chrono::seconds(5));
    ttlcache::TieredOptions tiers;
    // Should an invalidation message be lost, L1 copies are re-checked after this long.
    tiers.l1_max_ttl = std::chrono::seconds(30);
    // The L1 takes a quarter of the budget; Redis holds the rest.
    auto t = redis::make_tiered_backend<std::string, ttlcache::Timed<std::string>>(
        store, bus, tiers, memory_options(s.max_bytes / 4));
    return t.backend;
  }
#endif
  throw std::invalid_argument("service cache: unknown or unavailable topology '" + s.topology +
                              "' (in-process, redis, tiered)");
}

}  // namespace

std::unique_ptr<ServiceCache> make_service_cache(const CacheSettings& s) {
  auto tagged = tagged_backend(s);

  ttlcache::FailSafeOptions fail_safe;
  // Expired copies must outlive the stale-while-revalidate window (and serve fail-safe).
  fail_safe.max_stale = std::chrono::minutes(10);
  auto backend =
      std::make_shared<ttlcache::FailSafeBackend<std::string, std::string>>(tagged, fail_safe);

  auto config = ttlcache::DynamicTtlConfig::defaults();
  config.seed = s.seed;

  ttlcache::CacheOptions options;
  options.name = "service";
  options.ttl_policy = std::make_shared<ttlcache::DynamicTTL>(config);
  options.loading.refresh_ahead_at = s.refresh_ahead_at;
  options.loading.stale_while_revalidate = s.stale_while_revalidate;
  options.loading.fail_safe = true;  // a failing database query serves the last good copy
  options.loading.background_threads = s.background_threads;
  return std::make_unique<ServiceCache>(backend, options);
}

}  // namespace service

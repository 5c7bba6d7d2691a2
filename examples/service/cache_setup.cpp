// make_service_cache: the service's one cache, built with CacheBuilder for each topology.
// SPDX-License-Identifier: MIT
#include "cache_setup.hpp"

#include <ttlcache/builder.hpp>
#include <ttlcache/dynamic_ttl.hpp>

#include <chrono>
#include <stdexcept>

#ifdef TTLCACHE_SERVICE_REDIS
#include <ttlcache/redis.hpp>
#endif

namespace service {

std::unique_ptr<ServiceCache> make_service_cache(const CacheSettings& s) {
  auto config = ttlcache::DynamicTtlConfig::defaults();
  config.seed = s.seed;
  // The shipped table guesses lifetimes for views that nothing invalidates. This service drops
  // a user's file list and stats, and the bookmark lists that show a deleted file, by tag on
  // every write that changes them, so for those three the TTL only bounds an invalidation lost
  // between instances (tiered L1s re-check after 30 s anyway) and memory: they get the table's
  // render lifetime, 1800 s, instead of 60, 300 and 120 s. Rules and time windows still apply.
  // Search results and public stats are not invalidated and keep the table's TTLs (180, 600 s).
  for (auto& type : config.content_types) {
    if (type.name == "file_list" || type.name == "user_stats" || type.name == "bookmarks") {
      type.ttl = std::chrono::seconds(1800);
    }
  }
  config.adaptive.enabled = s.adaptive_ttl;

  ttlcache::CacheBuilder<std::string, std::string> builder("service");
  builder.tags()
      .dynamic_ttl(config)
      // Expired copies outlive the stale-while-revalidate window and serve fail-safe: a failing
      // database query answers with the last good copy.
      .fail_safe(std::chrono::minutes(10))
      .refresh_ahead(s.refresh_ahead_at)
      .stale_while_revalidate(s.stale_while_revalidate)
      .background_threads(s.background_threads);
  // Bounded by bytes, not entries: bodies range from 100 B to 60 kB.
  auto weigh = [](const std::string& key, const std::string& body) {
    return key.size() + body.size();
  };
  if (s.topology == "in-process") {
    builder.max_entries(0).max_weight(s.max_bytes, weigh);
    return std::make_unique<ServiceCache>(builder.build());
  }
#ifdef TTLCACHE_SERVICE_REDIS
  if (s.topology == "redis" || s.topology == "tiered") {
    auto options = ttlcache::redis::RedisOptions::from_url(s.redis_url);
    options.key_namespace = s.key_namespace;
    options.client_name = "ttlcache-service";
    builder.redis(options);
    if (s.topology == "tiered") {
      // The L1 takes a quarter of the budget; Redis holds the rest. Should an invalidation
      // message be lost, L1 copies are re-checked after 30 s.
      builder.tiered(std::chrono::seconds(30)).max_entries(0).max_weight(s.max_bytes / 4, weigh);
    }
    return std::make_unique<ServiceCache>(builder.build());
  }
#endif
  throw std::invalid_argument("service cache: unknown or unavailable topology '" + s.topology +
                              "' (in-process, redis, tiered)");
}

}  // namespace service

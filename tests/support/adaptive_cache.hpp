// Shared by the adaptive TTL tests through a Cache (unit/test_adaptive_cache.cpp and its
// concurrency case in unit/test_concurrency_dynamic_ttl.cpp): a tag-aware Cache whose TTLs come
// from an adaptive DynamicTTL, on a fake clock.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "ttlcache/builder.hpp"
#include "ttlcache/clock.hpp"
#include "ttlcache/dynamic_ttl.hpp"

namespace ttlcache_test {

// "view" and "list" (60 s in the table, up to x8), no jitter, UTC.
inline ttlcache::DynamicTtlConfig adaptive_cache_config(bool adaptive) {
  ttlcache::DynamicTtlConfig c;
  c.utc_offset = std::chrono::minutes(0);
  c.jitter_percent = 0.0;
  c.min_ttl = std::chrono::seconds(1);
  c.max_ttl = std::chrono::seconds(7200);
  c.content_types = {ttlcache::ContentTypeTtl("view", std::chrono::seconds(60)),
                     ttlcache::ContentTypeTtl("list", std::chrono::seconds(60))};
  c.adaptive.enabled = adaptive;
  c.adaptive.max_factor = 8.0;
  return c;
}

struct AdaptiveCacheFixture {
  std::shared_ptr<ttlcache::FakeClock> clock = std::make_shared<ttlcache::FakeClock>();
  std::shared_ptr<ttlcache::DynamicTTL> policy;
  ttlcache::Cache<std::string, std::string> cache;

  explicit AdaptiveCacheFixture(bool adaptive = true)
      : policy(std::make_shared<ttlcache::DynamicTTL>(adaptive_cache_config(adaptive), clock)),
        cache(ttlcache::CacheBuilder<std::string, std::string>("adaptive")
                  .clock(clock)
                  .tags()
                  .ttl_policy(policy)
                  .build()) {}

  ttlcache::TtlExplanation explain(const char* type) const { return policy->explain(type, {}); }
};

}  // namespace ttlcache_test

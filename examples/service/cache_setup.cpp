// make_service_cache: backend layering, DynamicTTL and loading options of the service.
// SPDX-License-Identifier: MIT
#include "cache_setup.hpp"

#include <ttlcache/dynamic_ttl.hpp>
#include <ttlcache/fail_safe.hpp>
#include <ttlcache/tags.hpp>

namespace service {

std::unique_ptr<ServiceCache> make_service_cache(const CacheSettings& s) {
  using Entry = ttlcache::Tagged<ttlcache::Timed<std::string>>;
  ttlcache::MemoryOptions<std::string, Entry> memory;
  memory.max_entries = 0;  // bounded by bytes instead: bodies range from 100 B to 60 kB
  memory.max_weight = s.max_bytes;
  memory.weigher = [](const std::string& key, const Entry& e) {
    return key.size() + e.value.value.size();
  };
  auto tagged = ttlcache::make_tagged_memory_backend<std::string, ttlcache::Timed<std::string>>(
      std::move(memory));

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

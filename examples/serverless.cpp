// Serverless-style helpers: get with a fallback, warm-up of a key set at cold start, and batch
// invalidation.
// SPDX-License-Identifier: MIT
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <ttlcache/ttlcache.hpp>

using namespace std::chrono_literals;

namespace {
// A config service that is sometimes down.
bool service_up = true;
std::string fetch_config(const std::string& key) {
  if (!service_up) throw std::runtime_error("config service unavailable");
  return "value of " + key;
}
}  // namespace

int main() {
  auto cache = ttlcache::CacheBuilder<std::string, std::string>("config").tags().build();
  const auto config_entry = ttlcache::EntryOptions().ttl(10min).tag("config");

  // Cold start: warm the keys every invocation needs, in one batch write.
  const std::vector<std::string> hot = {"flags", "limits", "routes"};
  std::vector<std::pair<std::string, std::string>> warmed;
  warmed.reserve(hot.size());
  for (const auto& key : hot) warmed.emplace_back(key, fetch_config(key));
  for (auto& [key, value] : warmed) cache.set(key, value, config_entry);
  std::printf("warmed %zu keys at cold start\n", warmed.size());

  // Get with fallback: the cached value if any, else the loader, else a safe default.
  auto get_or = [&](const std::string& key, const std::string& fallback) {
    try {
      return cache.get_or_load(
          key, [&] { return fetch_config(key); }, config_entry);
    } catch (const std::exception& e) {
      std::printf("  %s: %s, using the fallback\n", key.c_str(), e.what());
      return fallback;
    }
  };
  service_up = false;
  const std::string flags = get_or("flags", "{}");     // cached: the outage does not matter
  const std::string theme = get_or("theme", "light");  // not cached: fallback
  std::printf("flags = %s, theme = %s\n", flags.c_str(), theme.c_str());

  // Batch invalidation: a deploy changes every config entry at once.
  service_up = true;
  cache.invalidate_tags({"config"});
  int still_cached = 0;
  for (const auto& key : hot) still_cached += cache.contains(key) ? 1 : 0;
  std::printf("after the deploy's invalidation, %d of %zu keys still cached\n", still_cached,
              hot.size());

  return flags == "value of flags" && theme == "light" && still_cached == 0 ? 0 : 1;
}

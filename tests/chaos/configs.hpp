// The cache configurations the chaos suite puts under fault, built in one place with today's API.
// SPDX-License-Identifier: MIT
#pragma once

// make_built_tiered is what a user writes: one CacheBuilder chain. The hand-built set-ups beside
// it keep their layers reachable, so that the scenarios that need a layer's own counters (the
// breaker's, the bus's) can read them; they are composed as the builder composes them.

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "ttlcache/builder.hpp"
#include "ttlcache/redis.hpp"
#include "ttlcache/resilient_backend.hpp"
#include "ttlcache/ttlcache.hpp"

namespace ttlcache_chaos {

using namespace std::chrono_literals;

/// Where an instance connects: the data connections (store, stamps) and the bus connection can
/// go through different proxies, so that one can fail alone.
struct Endpoints {
  int data_port = 0;
  int bus_port = 0;
  std::string key_namespace;
  std::string channel;
};

/// The knobs every configuration shares; the defaults are the documented recipe's.
struct Settings {
  std::chrono::milliseconds call_budget = 250ms;  ///< per-call deadline (whole cache call)
  std::chrono::milliseconds l1_max_ttl = 5s;      ///< the staleness bound
  std::uint32_t failure_threshold = 3;
  std::chrono::milliseconds open_for = 500ms;
  std::chrono::milliseconds slow_call_duration = 150ms;
  std::chrono::milliseconds connect_timeout = 500ms;
  std::chrono::milliseconds command_timeout = 1000ms;
  std::chrono::milliseconds reconnect_backoff_max = 200ms;
};

inline ttlcache::redis::RedisOptions redis_options(int port, const std::string& ns,
                                                   const Settings& s) {
  ttlcache::redis::RedisOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.key_namespace = ns;
  o.connect_timeout = s.connect_timeout;
  o.command_timeout = s.command_timeout;
  o.reconnect_backoff_initial = 20ms;
  o.reconnect_backoff_max = s.reconnect_backoff_max;
  return o;
}

inline ttlcache::BreakerOptions breaker_options(const Settings& s) {
  ttlcache::BreakerOptions b;
  b.failure_threshold = s.failure_threshold;
  b.open_for = s.open_for;
  // Slow calls: L2 is reached on L1 misses only, so a short window sees a stall at once.
  b.slow_call_duration = s.slow_call_duration;
  b.slow_call_rate_threshold = 50;
  b.sliding_window = 4;
  b.minimum_calls = 2;
  return b;
}

using Key = std::string;
using Value = std::string;
using Cache = ttlcache::Cache<Key, Value>;

/// The tag-aware tiered cache of docs/invalidation.md with the outage recipe of
/// docs/resilience.md: L2 (Redis) behind a breaker that propagates (so L1 can stand in), degrade
/// on top (so nothing reaches a caller), a per-call deadline on both.
struct TieredTaggedSetup {
  std::shared_ptr<ttlcache::redis::RedisStore> store;
  std::shared_ptr<ttlcache::redis::PubSubBus> bus;
  std::shared_ptr<ttlcache::ResilientBackend<Key, ttlcache::Tagged<Value>>> l2;
  ttlcache::TieredTagged<Key, Value> parts;
  std::shared_ptr<ttlcache::ResilientBackend<Key, Value>> top;
  std::unique_ptr<Cache> cache;
};

inline TieredTaggedSetup make_tiered_tagged(const Endpoints& at, const Settings& s = {}) {
  TieredTaggedSetup out;
  auto data = redis_options(at.data_port, at.key_namespace, s);
  out.store = std::make_shared<ttlcache::redis::RedisStore>(data);
  ttlcache::redis::PubSubOptions bus_options;
  bus_options.redis = redis_options(at.bus_port, at.key_namespace, s);
  bus_options.channel = at.channel;
  out.bus = std::make_shared<ttlcache::redis::PubSubBus>(bus_options);

  ttlcache::ResilientOptions at_l2;
  at_l2.policy = ttlcache::FailurePolicy::propagate;
  at_l2.breaker = breaker_options(s);
  at_l2.tier = "l2";
  at_l2.call_budget = s.call_budget;
  using TaggedValue = ttlcache::Tagged<Value>;
  auto codec = std::make_shared<ttlcache::CodecBackend<Key, TaggedValue, ttlcache::KeyCodec<Key>,
                                                       ttlcache::TaggedCodec<Value>>>(out.store);
  out.l2 = std::make_shared<ttlcache::ResilientBackend<Key, TaggedValue>>(codec, at_l2);
  out.l2->on_repaired(ttlcache::publish_repairs<Key>(out.bus, at.key_namespace));

  ttlcache::TieredOptions tiered;
  tiered.l1_max_ttl = s.l1_max_ttl;
  tiered.scope = at.key_namespace;
  auto store = out.store;
  tiered.l2_erase_prefix = [store](std::string_view prefix) { return store->erase_prefix(prefix); };
  ttlcache::MemoryOptions<Key, TaggedValue> l1;
  l1.max_entries = 100'000;
  // The versions live on the same Redis: behind the same breaker and deadline as the values.
  auto stamps = std::make_shared<ttlcache::GuardedStampStore<Key, TaggedValue>>(out.store, out.l2);
  out.parts = ttlcache::make_tiered_tagged<Key, Value>(out.l2, stamps, out.bus, tiered, l1);

  ttlcache::ResilientOptions on_top;
  on_top.policy = ttlcache::FailurePolicy::degrade;
  on_top.breaker.enabled = false;       // a breaker here would cut L1 off too
  on_top.repair_failed_writes = false;  // L2's layer repairs
  on_top.call_budget = s.call_budget;   // covers the stamp reads too
  out.top = std::make_shared<ttlcache::ResilientBackend<Key, Value>>(out.parts.backend, on_top);
  ttlcache::CacheOptions options;
  options.name = "chaos-tiered-tagged";
  // One budget for the whole cache call (read, stamps, write), as the builder's call_deadline()
  // sets it: the layers' call_budget alone bounds each backend call, so a get_or_load that
  // reads, loads and writes could wait three budgets.
  options.call_deadline = s.call_budget;
  out.cache = std::make_unique<Cache>(out.top, options);
  out.l2->attach_stats(out.cache->shared_stats_recorder());
  out.top->attach_stats(out.cache->shared_stats_recorder());
  return out;
}

/// The fail-safe snippet of docs/resilience.md: a fail-safe backend on a Redis store, fail-safe
/// loading on, degrade under the fail-safe layer (so the store's failures are misses and
/// dropped writes), with the per-call deadline.
struct FailSafeSetup {
  std::shared_ptr<ttlcache::redis::RedisStore> store;
  std::shared_ptr<ttlcache::ResilientBackend<Key, ttlcache::Timed<Value>>> guarded;
  std::shared_ptr<ttlcache::FailSafeBackend<Key, Value>> backend;
  std::unique_ptr<Cache> cache;
};

inline FailSafeSetup make_fail_safe(const Endpoints& at, const Settings& s = {}) {
  FailSafeSetup out;
  out.store = std::make_shared<ttlcache::redis::RedisStore>(
      redis_options(at.data_port, at.key_namespace, s));
  using TimedValue = ttlcache::Timed<Value>;
  auto codec = std::make_shared<ttlcache::CodecBackend<Key, TimedValue, ttlcache::KeyCodec<Key>,
                                                       ttlcache::TimedCodec<Value>>>(out.store);
  ttlcache::ResilientOptions guard;
  guard.policy = ttlcache::FailurePolicy::degrade;
  guard.breaker = breaker_options(s);
  guard.call_budget = s.call_budget;
  out.guarded = std::make_shared<ttlcache::ResilientBackend<Key, TimedValue>>(codec, guard);
  ttlcache::FailSafeOptions fs;
  fs.max_stale = std::chrono::hours(1);
  out.backend = std::make_shared<ttlcache::FailSafeBackend<Key, Value>>(out.guarded, fs);
  ttlcache::CacheOptions options;
  options.name = "chaos-fail-safe";
  options.call_deadline = s.call_budget;
  options.loading.fail_safe = true;
  out.cache = std::make_unique<Cache>(out.backend, options);
  out.guarded->attach_stats(out.cache->shared_stats_recorder());
  return out;
}

/// The same fail-safe snippet without the ResilientBackend: exactly what docs/resilience.md
/// shows (`redis::make_fail_safe_backend` + `loading.fail_safe = true`).
struct PlainFailSafeSetup {
  std::shared_ptr<ttlcache::FailSafeBackend<Key, Value>> backend;
  std::unique_ptr<Cache> cache;
};

inline PlainFailSafeSetup make_plain_fail_safe(const Endpoints& at, const Settings& s = {}) {
  PlainFailSafeSetup out;
  ttlcache::FailSafeOptions fs;
  fs.max_stale = std::chrono::hours(1);
  out.backend = ttlcache::redis::make_fail_safe_backend<Key, Value>(
      redis_options(at.data_port, at.key_namespace, s), fs);
  ttlcache::CacheOptions options;
  options.name = "chaos-plain-fail-safe";
  options.loading.fail_safe = true;
  out.cache = std::make_unique<Cache>(out.backend, options);
  return out;
}

/// The documented production recipe as a user writes it: a tag-aware tiered cache on Redis,
/// degrade with a breaker, one deadline per call. Every instance on the same port and namespace
/// shares the keys and the invalidation bus.
inline Cache make_built_tiered(int port, const std::string& ns, const Settings& s = {},
                               bool tags = true) {
  ttlcache::CacheBuilder<Key, Value> builder("chaos-built");
  builder.redis(redis_options(port, ns, s))
      .tiered(s.l1_max_ttl)
      .degrade(breaker_options(s))
      .call_deadline(s.call_budget)
      .wait_for_bus(std::chrono::seconds(10));
  if (tags) builder.tags();
  return builder.build();
}

/// Whether the built cache's L2 breaker is closed (or has never changed state), from the
/// statistics a user reads.
inline bool l2_closed(const Cache& cache) {
  const auto stats = cache.stats();
  const auto tier = stats.tiers.find("l2");
  return tier == stats.tiers.end() || !tier->second.breaker ||
         *tier->second.breaker == ttlcache::BreakerState::closed;
}

}  // namespace ttlcache_chaos

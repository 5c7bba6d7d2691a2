// What CacheBuilder collects (BuildPlan), its validation, and the in-process composition; the
// Redis composition is in ttlcache/redis/builder.hpp.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ttlcache/backend.hpp"
#include "ttlcache/cache_options.hpp"
#include "ttlcache/circuit_breaker.hpp"
#include "ttlcache/clock.hpp"
#include "ttlcache/detail/key_text.hpp"
#include "ttlcache/dynamic_ttl.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/fail_safe.hpp"
#include "ttlcache/jitter.hpp"
#include "ttlcache/load_options.hpp"
#include "ttlcache/lock.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/memory_layers.hpp"
#include "ttlcache/removal.hpp"
#include "ttlcache/stats.hpp"
#include "ttlcache/tags.hpp"
#include "ttlcache/ttl_group.hpp"
#include "ttlcache/ttl_policy.hpp"
#include "ttlcache/value_equal.hpp"

namespace ttlcache {
namespace redis {
struct RedisOptions;
struct TrackingOptions;
}  // namespace redis

namespace detail {

/// What build() made besides the backend: how to connect each layer's statistics to the
/// cache's recorder, the lock service it built, and how to read the store's memory.
template <class K, class V>
struct Built {
  std::shared_ptr<Backend<K, V>> backend;
  std::vector<std::function<void(const std::shared_ptr<StatsRecorder>&)>> attach;
  std::shared_ptr<LockService> locks;
  std::function<std::uint64_t()> used_memory;
};

/// Everything a CacheBuilder was told. Plain data; the composers read it.
template <class K, class V>
struct BuildPlan {
  std::string name;
  // storage
  std::size_t max_entries = 100'000;
  std::uint64_t max_weight = 0;
  std::function<std::size_t(const K&, const V&)> weigher;
  std::uint32_t shards = 0;
  std::string redis_url;
  std::shared_ptr<const redis::RedisOptions> redis_options;
  Built<K, V> (*compose_remote)(const BuildPlan&) = nullptr;
  std::string (*describe_remote)(const BuildPlan&) = nullptr;
  bool tiered = false;
  bool near_cache = false;  // tiered, kept coherent by Redis (CLIENT TRACKING), not the bus
  std::shared_ptr<const redis::TrackingOptions> tracking;
  std::chrono::milliseconds l1_max_ttl{5000};
  std::chrono::milliseconds bus_wait{0};
  bool tags = false;
  std::chrono::milliseconds stamp_ttl = std::chrono::hours(24);
  // lifetimes and loading
  std::chrono::milliseconds default_ttl = std::chrono::minutes(5);
  std::shared_ptr<const TtlPolicy> ttl_policy;
  std::optional<DynamicTtlConfig> dynamic_ttl;  // built with the plan's clock
  ValueEqual<V> value_equal;                    // empty: V's operator==, if any
  TtlGroupFn<K> ttl_group;                      // empty: no key groups
  bool fail_safe = false;
  std::chrono::milliseconds max_stale = std::chrono::hours(1);
  LoadOptions loading;
  bool distributed_single_flight = false;
  std::shared_ptr<LockService> lock_service;
  // outages
  bool degrade = false;
  BreakerOptions breaker;
  std::chrono::milliseconds call_deadline{0};
  std::optional<double> jitter_percent;
  std::optional<std::uint64_t> jitter_seed;
  // plumbing
  std::shared_ptr<const Clock> clock;
  StatsOptions stats;
  CacheListeners listeners;
  std::function<void(const K&, const V&, RemovalCause)> on_removal;

  bool remote() const noexcept { return compose_remote != nullptr; }
  /// Entries carry their times (a Timed<V> envelope): fail-safe and the refresh features.
  bool timed() const noexcept {
    return fail_safe || loading.early_refresh || loading.refresh_ahead_at > 0 ||
           loading.stale_while_revalidate.count() > 0;
  }
  /// How long stale copies are kept: max_stale with fail-safe, else what
  /// stale-while-revalidate needs.
  std::chrono::milliseconds keep_stale() const noexcept {
    if (fail_safe) return max_stale;
    return loading.stale_while_revalidate;
  }
};

[[noreturn]] inline void reject(const std::string& setting, const std::string& reason) {
  throw config_error(setting, "ttlcache CacheBuilder: " + setting + ": " + reason);
}

/// The impossible combinations, each with what to change.
template <class K, class V>
void validate(const BuildPlan<K, V>& p) {
  if (p.near_cache && p.tags) {
    reject("near_cache()",
           "tag and version changes reach a near cache only as Redis key reports, which the "
           "near cache does not check yet: use tiered() (pub/sub bus) with tags(), or drop "
           "tags()");
  }
  if (p.tiered && !p.remote()) {
    reject("tiered()", "a tiered cache needs a shared L2 behind its L1: add redis(url)");
  }
  if (p.degrade && !p.remote()) {
    reject("degrade()",
           "degrade and the circuit breaker protect callers from a failing remote store; an "
           "in-process cache cannot fail that way: remove degrade() or add redis(url)");
  }
  if (p.distributed_single_flight && !p.remote() && !p.lock_service) {
    reject("distributed_single_flight()",
           "without redis() there is no shared lock: add redis(url) or pass a LockService");
  }
  if (p.default_ttl.count() <= 0) reject("default_ttl()", "must be positive");
  if (p.dynamic_ttl && p.ttl_policy) {
    reject("ttl_policy()", "dynamic_ttl() and ttl_policy() both set the TTL policy: keep one");
  }
  if (p.ttl_group && !p.dynamic_ttl && !p.ttl_policy) {
    reject("ttl_group()",
           "key groups feed an adaptive TTL policy, and the cache has none: add dynamic_ttl() "
           "(with adaptive on) or ttl_policy(), or remove ttl_group()");
  }
  if (p.tiered && p.l1_max_ttl.count() <= 0) reject("tiered()", "l1_max_ttl must be positive");
  if (p.bus_wait.count() != 0 && !p.tiered) {
    reject("wait_for_bus()", "only a tiered cache has a bus: add tiered() or remove it");
  }
  if (p.bus_wait.count() < 0) reject("wait_for_bus()", "must not be negative");
  if (p.tags && p.stamp_ttl.count() <= 0) reject("tags()", "stamp_ttl must be positive");
  if (p.max_weight > 0 && !p.weigher) reject("max_weight()", "needs a weigher");
  if (p.max_entries == 0 && p.max_weight == 0) {
    reject("max_entries()", "an unbounded in-process store grows without limit: give a bound");
  }
  if (p.fail_safe && p.max_stale.count() <= 0) {
    reject("fail_safe()", "max_stale must be positive (it is how long stale copies are kept)");
  }
  const LoadOptions& lo = p.loading;
  if (lo.fail_safe && !p.fail_safe) {
    reject("loading()",
           "LoadOptions::fail_safe needs fail_safe() (the store must keep stale "
           "copies): call fail_safe(max_stale) instead");
  }
  if (lo.soft_timeout.count() > 0 && !p.fail_safe) {
    reject("timeouts()",
           "a soft timeout serves a stale copy while the load goes on: add fail_safe()");
  }
  if (p.fail_safe && lo.stale_while_revalidate > p.max_stale) {
    reject("stale_while_revalidate()",
           "the window (" + std::to_string(lo.stale_while_revalidate.count()) +
               " ms) is longer than fail_safe's max_stale (" + std::to_string(p.max_stale.count()) +
               " ms): stale copies would be gone before it ends; raise max_stale");
  }
  if (!(lo.refresh_ahead_at >= 0 && lo.refresh_ahead_at < 1)) {
    reject("refresh_ahead()", "must be in (0, 1), e.g. 0.8");
  }
  if (!(lo.early_refresh_beta > 0)) reject("early_refresh()", "beta must be > 0");
  if (lo.stale_while_revalidate.count() < 0) {
    reject("stale_while_revalidate()", "must not be negative");
  }
  if (lo.soft_timeout.count() < 0 || lo.hard_timeout.count() < 0 ||
      (lo.soft_timeout.count() > 0 && lo.hard_timeout.count() > 0 &&
       lo.hard_timeout <= lo.soft_timeout)) {
    reject("timeouts()", "must not be negative, and hard must be longer than soft");
  }
  if (lo.background_threads == 0) reject("background_threads()", "must be > 0");
  if (p.call_deadline.count() < 0) reject("call_deadline()", "must not be negative");
  if (p.breaker.failure_threshold == 0 || p.breaker.open_for.count() <= 0) {
    reject("degrade()", "the breaker needs failure_threshold > 0 and open_for > 0");
  }
}

// ---- the user's types, never the envelopes ----

template <class T>
struct is_tagged : std::false_type {};
template <class T>
struct is_tagged<Tagged<T>> : std::true_type {};
template <class T>
struct is_timed : std::false_type {};
template <class T>
struct is_timed<Timed<T>> : std::true_type {};

/// The user's value inside whatever envelope E the layers stored it in.
template <class V, class E>
const V& payload(const E& e) {
  if constexpr (std::is_same_v<E, V>) {
    return e;
  } else if constexpr (is_tagged<E>::value || is_timed<E>::value) {
    return payload<V>(e.value);
  } else {
    static_assert(std::is_same_v<E, V>, "not an envelope of V");
    return e;
  }
}

/// MemoryOptions for the in-process store of envelopes E, from the user's (key, V) settings.
template <class K, class V, class E>
MemoryOptions<K, E> memory_options(const BuildPlan<K, V>& p) {
  MemoryOptions<K, E> m;
  m.max_entries = p.max_entries;
  m.max_weight = p.max_weight;
  m.shards = p.shards;
  m.clock = p.clock;
  if (p.weigher) {
    m.weigher = [w = p.weigher](const K& key, const E& e) { return w(key, payload<V>(e)); };
  }
  if (p.on_removal || p.listeners.on_removal) {
    m.removal_listener = [typed = p.on_removal, untyped = p.listeners.on_removal, name = p.name](
                             const K& key, const E& e, RemovalCause cause) {
      if (typed) {
        try {
          typed(key, payload<V>(e), cause);
        } catch (...) {  // one listener's failure must not keep the other from being told
        }
      }
      if (untyped) {
        const std::string text = key_text(key);
        notify(untyped, RemovalEvent{name, cause, text});
      }
    };
  }
  return m;
}

template <class K, class V>
TaggedOptions tagged_options(const BuildPlan<K, V>& p) {
  TaggedOptions t;
  t.stamp_ttl = p.stamp_ttl;
  t.clock = p.clock;
  return t;
}

template <class K, class V>
FailSafeOptions fail_safe_options(const BuildPlan<K, V>& p) {
  FailSafeOptions fs;
  fs.max_stale = p.keep_stale();
  fs.clock = p.clock;
  return fs;
}

/// Names a type without needing a value of it (V need not be default-constructible).
template <class T>
struct type_tag {
  using type = T;
};

/// The fail-safe envelope around a store of Timed<V>, when the plan needs entry times;
/// make(type_tag<X>) builds the store of X (Timed<V> or V).
template <class K, class V, class MakeStore>
std::shared_ptr<Backend<K, V>> with_entry_times(const BuildPlan<K, V>& p, MakeStore&& make) {
  if (p.timed()) {
    return std::make_shared<FailSafeBackend<K, V>>(make(type_tag<Timed<V>>{}),
                                                   fail_safe_options(p));
  }
  return make(type_tag<V>{});
}

/// In process: MemoryBackend, with a tag index and stamp store when tagged, in the fail-safe
/// envelope when timed.
template <class K, class V>
Built<K, V> compose_in_process(const BuildPlan<K, V>& p) {
  Built<K, V> out;
  out.backend = with_entry_times(p, [&](auto tag) {
    using X = typename decltype(tag)::type;
    std::shared_ptr<Backend<K, X>> store;
    if (p.tags) {
      store =
          make_tagged_memory_backend<K, X>(memory_options<K, V, Tagged<X>>(p), tagged_options(p));
    } else {
      store = std::make_shared<MemoryBackend<K, X>>(memory_options<K, V, X>(p));
    }
    return store;
  });
  return out;
}

template <class K, class V>
CacheOptions cache_options(const BuildPlan<K, V>& p, const Built<K, V>& built) {
  CacheOptions o;
  o.name = p.name;
  o.default_ttl = p.default_ttl;
  o.ttl_policy = p.ttl_policy;
  if (p.dynamic_ttl) o.ttl_policy = std::make_shared<DynamicTTL>(*p.dynamic_ttl, p.clock);
  o.stats = p.stats;
  if (!o.stats.clock) o.stats.clock = p.clock;
  if (!o.stats.used_memory && built.used_memory) o.stats.used_memory = built.used_memory;
  o.listeners = p.listeners;
  o.loading = p.loading;
  o.loading.fail_safe = p.fail_safe;
  if (p.distributed_single_flight) {
    o.loading.lock_service = p.lock_service ? p.lock_service : built.locks;
  }
  o.call_deadline = p.call_deadline;
  if (p.jitter_percent) {
    o.ttl_jitter = std::make_shared<const Jitter>(*p.jitter_percent, p.jitter_seed);
  }
  return o;
}

inline std::string ms_text(std::chrono::milliseconds d) {
  const auto n = d.count();
  if (n % 3'600'000 == 0 && n > 0) return std::to_string(n / 3'600'000) + " h";
  if (n % 60'000 == 0 && n > 0) return std::to_string(n / 60'000) + " min";
  if (n % 1000 == 0 && n > 0) return std::to_string(n / 1000) + " s";
  return std::to_string(n) + " ms";
}

/// The layers, outermost first; remote is the Redis part's own lines.
template <class K, class V>
std::string describe(const BuildPlan<K, V>& p, const std::string& remote) {
  std::string out = "cache '" + p.name + "': default TTL " + ms_text(p.default_ttl);
  if (p.dynamic_ttl) {
    out += ", DynamicTTL (" + std::to_string(p.dynamic_ttl->content_types.size()) + " types)";
  } else if (p.ttl_policy) {
    out += ", TTL policy";
  }
  if (p.call_deadline.count() > 0) out += ", call deadline " + ms_text(p.call_deadline);
  out += "\n";
  const LoadOptions& lo = p.loading;
  if (p.timed()) {
    out += "  fail-safe envelope: stale copies kept " + ms_text(p.keep_stale());
    if (p.fail_safe) out += ", fail-safe TTL " + ms_text(lo.fail_safe_ttl);
    if (lo.early_refresh) out += ", early refresh";
    if (lo.refresh_ahead_at > 0) out += ", refresh-ahead at " + std::to_string(lo.refresh_ahead_at);
    if (lo.stale_while_revalidate.count() > 0) {
      out += ", stale-while-revalidate " + ms_text(lo.stale_while_revalidate);
    }
    out += "\n";
  }
  if (p.distributed_single_flight) out += "  distributed single-flight\n";
  if (p.remote()) return out + remote;
  if (p.tags) out += "  tags: in-process versions\n";
  out += "  in-process store: " + std::to_string(p.max_entries) + " entries";
  if (p.max_weight > 0) out += ", weight " + std::to_string(p.max_weight);
  return out + "\n";
}

}  // namespace detail
}  // namespace ttlcache

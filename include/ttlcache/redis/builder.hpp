// CacheBuilder's Redis composition: the store, the tiers and bus, tags, the breaker and degrade
// layers, in the one order that keeps the outage contract (docs/resilience.md).
// SPDX-License-Identifier: MIT
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "ttlcache/builder.hpp"
#include "ttlcache/codec.hpp"
#include "ttlcache/codec_backend.hpp"
#include "ttlcache/envelope_codec.hpp"
#include "ttlcache/redis/lock.hpp"
#include "ttlcache/redis/options.hpp"
#include "ttlcache/redis/pubsub_bus.hpp"
#include "ttlcache/redis/redis_store.hpp"
#include "ttlcache/redis/tracking.hpp"
#include "ttlcache/resilient_backend.hpp"
#include "ttlcache/tiered_backend.hpp"

namespace ttlcache::detail {

/// The codec of the envelope X (V or Timed<V>) around the user's value codec VC, and of
/// Tagged<X> around that.
template <class V, class VC, class X>
struct EnvelopeCodecOf {
  using type = VC;
};
template <class V, class VC>
struct EnvelopeCodecOf<V, VC, Timed<V>> {
  using type = TimedCodec<V, VC>;
};
template <class V, class VC, class X>
struct EnvelopeCodecOf<V, VC, Tagged<X>> {
  using type = TaggedCodec<X, typename EnvelopeCodecOf<V, VC, X>::type>;
};

/// Order, outermost first (each layer is there only when asked for):
///   fail-safe envelope (FailSafeBackend)          the loading features' entry times
///   degrade (ResilientBackend, no breaker)        tiered: nothing thrown, L1 still reached
///   tags (TaggedBackend)                          versions in Redis (+ a local copy when tiered)
///   tiers (TieredBackend: L1 + bus)
///   L2 breaker + repair (ResilientBackend)        right above Redis, so a refused call still
///                                                 lets L1 answer
///   Redis (CodecBackend over RedisStore)
/// Without tiers, one ResilientBackend (degrade, breaker, repair) sits above the tags, so the
/// breaker covers the version reads too.
template <class K, class V, class KC, class VC>
struct RemoteComposer {
  using Plan = BuildPlan<K, V>;

  static std::shared_ptr<const redis::RedisOptions> share(const redis::RedisOptions& options) {
    return std::make_shared<const redis::RedisOptions>(options);
  }
  static std::shared_ptr<const redis::TrackingOptions> share(
      const redis::TrackingOptions& options) {
    return std::make_shared<const redis::TrackingOptions>(options);
  }

  /// The options: given ones as they are; from a URL, namespaced by the cache's name so that
  /// two caches on one Redis never share keys. With degrade(), build() does not wait for Redis
  /// (a service starts during an outage and serves from its source until Redis is back).
  static redis::RedisOptions options_of(const Plan& p) {
    redis::RedisOptions o;
    if (p.redis_options) {
      o = *p.redis_options;
    } else {
      o = redis::RedisOptions::from_url(p.redis_url);
      o.key_namespace = p.name;
    }
    if (p.degrade) o.connect_on_start = false;
    return o;
  }

  static Built<K, V> compose(const Plan& p) {
    const redis::RedisOptions ro = options_of(p);
    auto store = std::make_shared<redis::RedisStore>(ro);
    Built<K, V> out;
    out.used_memory = [store] { return store->used_memory(); };
    std::shared_ptr<InvalidationBus> bus;
    if (p.near_cache) {
      auto tracking = std::make_shared<redis::TrackingBus>(
          store, p.tracking ? *p.tracking : redis::TrackingOptions{});
      if (p.bus_wait.count() > 0) tracking->wait_until_subscribed(p.bus_wait);
      bus = std::move(tracking);
    } else if (p.tiered) {
      redis::PubSubOptions bo;
      bo.redis = ro;
      bo.channel = ro.key_namespace + ":invalidation";
      auto pubsub = std::make_shared<redis::PubSubBus>(bo);
      // Until the bus listens, L1 is bypassed (correct, slower); waiting here makes the first
      // reads use it. A bus that does not subscribe in time is no error: it keeps trying.
      if (p.bus_wait.count() > 0) pubsub->wait_until_subscribed(p.bus_wait);
      bus = std::move(pubsub);
    }
    if (p.distributed_single_flight && !p.lock_service) {
      out.locks = std::make_shared<redis::RedisLockService>(ro);
    }
    out.backend = with_entry_times(p, [&](auto tag) {
      using X = typename decltype(tag)::type;
      return layers<X>(p, store, bus, out);
    });
    return out;
  }

  static std::string describe(const Plan& p) {
    std::string out;
    if (p.degrade) {
      out += p.tiered ? "  degrade: no backend error reaches callers (L1 answers while Redis "
                        "is down)\n"
                      : "  degrade + circuit breaker (" +
                            std::to_string(p.breaker.failure_threshold) + " failures, open " +
                            ms_text(p.breaker.open_for) + ") + repair of failed writes\n";
    }
    if (p.tags)
      out += p.tiered ? "  tags: versions in Redis, local copy\n" : "  tags: versions in Redis\n";
    if (p.tiered) {
      out += "  tiered: L1 " + std::to_string(p.max_entries) + " entries, l1_max_ttl " +
             ms_text(p.l1_max_ttl) +
             (p.near_cache ? ", near cache kept coherent by Redis (CLIENT TRACKING)\n"
                           : ", Redis pub/sub invalidation bus\n");
      if (p.degrade) {
        out += "  L2 circuit breaker (" + std::to_string(p.breaker.failure_threshold) +
               " failures, open " + ms_text(p.breaker.open_for) + ") + repair of failed writes\n";
      }
    }
    std::string target = p.redis_options ? p.redis_options->describe() : std::string();
    if (!p.redis_options) {
      try {
        target = options_of(p).describe();
      } catch (const error&) {
        target = "(invalid URL)";
      }
    }
    return out + "  redis: " + target + "\n";
  }

 private:
  template <class E>
  using Codec = typename EnvelopeCodecOf<V, VC, E>::type;

  template <class X>
  static std::shared_ptr<Backend<K, X>> layers(const Plan& p,
                                               const std::shared_ptr<redis::RedisStore>& store,
                                               const std::shared_ptr<InvalidationBus>& bus,
                                               Built<K, V>& out) {
    auto erase_prefix = [store](std::string_view prefix) { return store->erase_prefix(prefix); };
    auto erase_pattern = [store](const KeyPattern& pattern) {
      return store->erase_pattern(pattern);
    };
    std::shared_ptr<Backend<K, X>> top;
    if (p.tiered) {
      TieredOptions to;
      to.l1_max_ttl = p.l1_max_ttl;
      to.scope = store->key_namespace();
      to.l2_erase_prefix = erase_prefix;
      to.l2_erase_pattern = erase_pattern;
      if (p.tags) {
        auto parts =
            make_tiered_tagged<K, X>(l2<Tagged<X>>(p, store, bus, out), store, bus, to,
                                     memory_options<K, V, Tagged<X>>(p), tagged_options(p));
        top = parts.backend;
      } else {
        auto l1 = std::make_shared<MemoryBackend<K, X>>(memory_options<K, V, X>(p));
        top = std::make_shared<TieredBackend<K, X>>(std::move(l1), l2<X>(p, store, bus, out), bus,
                                                    to, p.clock);
      }
      if (p.degrade) {
        ResilientOptions on_top;
        on_top.policy = FailurePolicy::degrade;
        on_top.breaker.enabled = false;       // a breaker here would cut L1 off too
        on_top.repair_failed_writes = false;  // L2's layer repairs; here it would block L1
        on_top.clock = p.clock;
        on_top.call_budget = p.call_deadline;  // covers the stamp reads too
        top = resilient<X>(std::move(top), on_top, out);
      }
      return top;
    }
    if (p.tags) {
      TaggedOptions t = tagged_options(p);
      t.erase_prefix = erase_prefix;
      t.erase_pattern = erase_pattern;
      auto values = std::make_shared<CodecBackend<K, Tagged<X>, KC, Codec<Tagged<X>>>>(store);
      top = std::make_shared<TaggedBackend<K, X>>(std::move(values), store, std::move(t));
    } else {
      top = std::make_shared<CodecBackend<K, X, KC, Codec<X>>>(store);
    }
    if (p.degrade) {
      ResilientOptions r;
      r.policy = FailurePolicy::degrade;
      r.breaker = p.breaker;
      r.clock = p.clock;
      r.call_budget = p.call_deadline;
      top = resilient<X>(std::move(top), r, out);
    }
    return top;
  }

  // Redis as the L2 of a tiered cache: with degrade, behind a breaker that propagates (the
  // tiered layer must see the failure to answer from L1) and repairs failed writes, telling
  // the other instances on the bus what the repair erased.
  template <class E>
  static std::shared_ptr<Backend<K, E>> l2(const Plan& p,
                                           const std::shared_ptr<redis::RedisStore>& store,
                                           const std::shared_ptr<InvalidationBus>& bus,
                                           Built<K, V>& out) {
    std::shared_ptr<Backend<K, E>> redis =
        std::make_shared<CodecBackend<K, E, KC, Codec<E>>>(store);
    if (!p.degrade) return redis;
    ResilientOptions at_l2;
    at_l2.policy = FailurePolicy::propagate;
    at_l2.breaker = p.breaker;
    at_l2.tier = "l2";
    at_l2.clock = p.clock;
    at_l2.call_budget = p.call_deadline;
    auto layer = resilient<E>(std::move(redis), at_l2, out);
    layer->on_repaired(publish_repairs<K>(bus, store->key_namespace()));
    return layer;
  }

  template <class E>
  static std::shared_ptr<ResilientBackend<K, E>> resilient(std::shared_ptr<Backend<K, E>> inner,
                                                           ResilientOptions options,
                                                           Built<K, V>& out) {
    auto layer = std::make_shared<ResilientBackend<K, E>>(std::move(inner), std::move(options));
    std::weak_ptr<ResilientBackend<K, E>> weak = layer;
    out.attach.push_back([weak](const std::shared_ptr<StatsRecorder>& recorder) {
      if (auto l = weak.lock(); l && recorder) l->attach_stats(recorder);
    });
    return layer;
  }
};

}  // namespace ttlcache::detail

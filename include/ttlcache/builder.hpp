// CacheBuilder<K,V>: one chain configures a cache; build() puts the layers in the right order.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ttlcache/cache.hpp"
#include "ttlcache/circuit_breaker.hpp"
#include "ttlcache/clock.hpp"
#include "ttlcache/codec.hpp"
#include "ttlcache/detail/build_plan.hpp"
#include "ttlcache/dynamic_ttl.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/fail_safe.hpp"
#include "ttlcache/load_options.hpp"
#include "ttlcache/lock.hpp"
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
/// Builds the Redis-backed layers. Declared here, defined in <ttlcache/redis/builder.hpp>
/// (included by <ttlcache/redis.hpp>): include that header, and link ttlcache::redis, to use
/// CacheBuilder::redis(). An "incomplete type RemoteComposer" error means it is missing.
template <class K, class V, class KC, class VC>
struct RemoteComposer;
}  // namespace detail

/// Builds a Cache<K,V> from one chain of settings, in the style of Caffeine and moka:
///
/// ```
/// auto cache = ttlcache::CacheBuilder<std::string, Page>("pages")
///                  .redis("redis://10.0.0.5:6379/0").tiered(5s)   // L1 + Redis + pub/sub bus
///                  .tags()                                         // tags, entity versions
///                  .fail_safe(1h).degrade()                        // outages: stale, no throw
///                  .ttl_policy(policy)                             // DynamicTTL
///                  .build();
/// ```
///
/// build() validates the whole set and throws config_error saying what to change for an
/// impossible combination (tiered() without redis(), degrade() in process, a soft timeout
/// without fail-safe, ...). It then creates the layers in the one correct order (fail-safe
/// envelope outermost, then degrade, then tags, then the tiers, the L2 breaker right above
/// Redis), injects the one clock into each, connects every layer's statistics to the cache's
/// recorder, and returns the Cache. The user's types stay the user's: weighers and removal
/// listeners see (key, V), never an envelope. describe() tells the layers without building.
///
/// KC and VC are the key and value codecs used on Redis (codec.hpp, json_codec.hpp).
///
/// Thread-safety: a builder is a plain value (copy it to build variations); build() may be
/// called any number of times, each call building a new, independent cache. Exceptions:
/// build() throws config_error for invalid settings and what the layers' constructors throw
/// (e.g. config_error for a malformed Redis URL).
template <class K, class V, class KC = KeyCodec<K>, class VC = ValueCodec<V>>
class CacheBuilder {
  // The setters take their argument by value and move it into plan_; clang-tidy 14 does not see
  // a move into a member of the dependent type BuildPlan<K,V> and reports a copy.
  // NOLINTBEGIN(performance-unnecessary-value-param)
 public:
  using Weigher = std::function<std::size_t(const K&, const V&)>;
  using RemovalFn = std::function<void(const K&, const V&, RemovalCause)>;

  explicit CacheBuilder(std::string name = "default") { plan_.name = std::move(name); }

  // ---- storage ----

  /// Bound on entries of the in-process store (the L1 when tiered). Default 100,000.
  CacheBuilder& max_entries(std::size_t n) {
    plan_.max_entries = n;
    return *this;
  }
  /// Bound on the sum of weights (e.g. bytes) of the in-process store, weighed by weigher.
  CacheBuilder& max_weight(std::uint64_t total, Weigher weigher) {
    plan_.max_weight = total;
    plan_.weigher = std::move(weigher);
    return *this;
  }
  /// Weighs entries (e.g. bytes) without bounding them: CacheStats::weight_bytes reports the
  /// sum. max_weight() both weighs and bounds.
  CacheBuilder& weigher(Weigher weigher) {
    plan_.weigher = std::move(weigher);
    return *this;
  }
  /// Shards of the in-process store (0: from the core count).
  CacheBuilder& shards(std::uint32_t n) {
    plan_.shards = n;
    return *this;
  }
  /// Store in Redis (one node, Sentinel or Cluster, as the URL says: redis://, rediss://,
  /// redis+sentinel://, redis+cluster://, unix://). Needs <ttlcache/redis.hpp>.
  CacheBuilder& redis(std::string url) {
    plan_.redis_url = std::move(url);
    plan_.redis_options.reset();
    plan_.compose_remote = &detail::RemoteComposer<K, V, KC, VC>::compose;
    plan_.describe_remote = &detail::RemoteComposer<K, V, KC, VC>::describe;
    return *this;
  }
  /// Store in Redis with full options (pool, timeouts, namespace...). Needs
  /// <ttlcache/redis.hpp>.
  CacheBuilder& redis(const redis::RedisOptions& options) {
    plan_.redis_url.clear();
    plan_.redis_options = detail::RemoteComposer<K, V, KC, VC>::share(options);
    plan_.compose_remote = &detail::RemoteComposer<K, V, KC, VC>::compose;
    plan_.describe_remote = &detail::RemoteComposer<K, V, KC, VC>::describe;
    return *this;
  }
  /// Tiered: an in-process L1 (sized by max_entries / max_weight) in front of Redis, kept
  /// coherent over a Redis pub/sub bus. l1_max_ttl bounds every L1 entry's life: the staleness
  /// bound should an invalidation message be lost. Needs redis().
  CacheBuilder& tiered(std::chrono::milliseconds l1_max_ttl = std::chrono::seconds(5)) {
    plan_.tiered = true;
    plan_.l1_max_ttl = l1_max_ttl;
    return *this;
  }
  /// A near cache: tiered (an in-process L1 in front of Redis), kept coherent by Redis itself
  /// through CLIENT TRACKING rather than a bus of ttlcache's, so a write by any client (another
  /// language, redis-cli) drops the near copy. Broadcast mode on the namespace by default;
  /// pass redis::TrackingOptions for keys_read mode. Needs redis() on one node; not with tags()
  /// (docs/redis.md, "Near cache").
  CacheBuilder& near_cache(std::chrono::milliseconds l1_max_ttl = std::chrono::seconds(5)) {
    tiered(l1_max_ttl);
    plan_.near_cache = true;
    return *this;
  }
  CacheBuilder& near_cache(const redis::TrackingOptions& tracking,
                           std::chrono::milliseconds l1_max_ttl = std::chrono::seconds(5)) {
    near_cache(l1_max_ttl);
    plan_.tracking = detail::RemoteComposer<K, V, KC, VC>::share(tracking);
    return *this;
  }
  /// Tiered: build() waits up to this long for the invalidation bus to subscribe (until it
  /// does, reads bypass L1: correct, but every read is a round trip). Default: no wait.
  CacheBuilder& wait_for_bus(std::chrono::milliseconds timeout) {
    plan_.bus_wait = timeout;
    return *this;
  }
  /// Tags and entity versions (EntryOptions::tag / entity, invalidate_tag, bump_version,
  /// invalidate_matching). Versions live beside the entries (in process, or in Redis shared by
  /// every instance); stamp_ttl is how long an unused version is kept.
  CacheBuilder& tags(std::chrono::milliseconds stamp_ttl = std::chrono::hours(24)) {
    plan_.tags = true;
    plan_.stamp_ttl = stamp_ttl;
    return *this;
  }

  // ---- lifetimes ----

  CacheBuilder& default_ttl(std::chrono::milliseconds ttl) {
    plan_.default_ttl = ttl;
    return *this;
  }
  /// Spreads every explicit and default TTL over +-percent (e.g. 10), so entries written
  /// together do not expire together; a seed makes the draws reproducible (tests).
  CacheBuilder& jitter(double percent, std::optional<std::uint64_t> seed = std::nullopt) {
    plan_.jitter_percent = percent;
    plan_.jitter_seed = seed;
    return *this;
  }
  /// Computes TTLs for calls given a content type (e.g. a DynamicTTL).
  CacheBuilder& ttl_policy(std::shared_ptr<const TtlPolicy> policy) {
    plan_.ttl_policy = std::move(policy);
    return *this;
  }

  /// A DynamicTTL (dynamic_ttl.hpp) from config, reading the builder's clock: lifetimes by
  /// content type, request context and time of day. Default: the shipped policy.
  CacheBuilder& dynamic_ttl(DynamicTtlConfig config = DynamicTtlConfig::defaults()) {
    plan_.dynamic_ttl = std::move(config);
    return *this;
  }

  /// How an adaptive TtlPolicy learns that data changed behind the cache's back: when a
  /// refresh (refresh-ahead, early refresh, stale-while-revalidate) or a reload over a stale
  /// copy loads a value, the cache compares it with the copy it replaces and reports
  /// reload_changed or reload_unchanged. By default with V's operator==; give equal for a V
  /// without one, or to compare what stands for the data (a version, an ETag, a hash) rather
  /// than fields that differ on every load (a build time). Without either, nothing is
  /// compared (docs/dynamic-ttl.md, "Adaptive TTL").
  CacheBuilder& value_equal(ValueEqual<V> equal) {
    plan_.value_equal = std::move(equal);
    return *this;
  }

  /// Names each key's group (a tenant, a hot/cold family; "" = none) so that an adaptive TTL
  /// policy keeps an estimate per (content type, group) besides the type's: every call that
  /// names a content type reports its observations under the key's group (set, set_many,
  /// get_or_load, get_many_or_load, refreshes and fail-safe reloads) and stores with the
  /// group's TTL. EntryOptions::ttl_group overrides it per call. Called only while the policy
  /// adapts (TtlGroupFn; docs/dynamic-ttl.md, "Key groups"). Needs a TTL policy.
  CacheBuilder& ttl_group(TtlGroupFn<K> group) {
    plan_.ttl_group = std::move(group);
    return *this;
  }

  // ---- loading ----

  /// Fail-safe: keep entries max_stale past their TTL; when a load (or the cache itself) fails,
  /// serve that stale copy and keep it for fail_safe_ttl before trying the source again.
  CacheBuilder& fail_safe(std::chrono::milliseconds max_stale = std::chrono::hours(1),
                          std::chrono::milliseconds fail_safe_ttl = std::chrono::seconds(30)) {
    plan_.fail_safe = true;
    plan_.max_stale = max_stale;
    plan_.loading.fail_safe_ttl = fail_safe_ttl;
    return *this;
  }
  /// Probabilistic early refresh (XFetch) of hot keys just before they expire.
  CacheBuilder& early_refresh(double beta = 1.0) {
    plan_.loading.early_refresh = true;
    plan_.loading.early_refresh_beta = beta;
    return *this;
  }
  /// Reload in the background a key read after `at` (e.g. 0.8) of its TTL.
  CacheBuilder& refresh_ahead(double at = 0.8) {
    plan_.loading.refresh_ahead_at = at;
    return *this;
  }
  /// Serve an expired value for up to `window` after its TTL while one background reload runs.
  CacheBuilder& stale_while_revalidate(std::chrono::milliseconds window) {
    plan_.loading.stale_while_revalidate = window;
    return *this;
  }
  /// Load timeouts (0 = none): after soft a stale copy is served (needs fail_safe), after hard
  /// the caller stops waiting.
  CacheBuilder& timeouts(std::chrono::milliseconds soft, std::chrono::milliseconds hard) {
    plan_.loading.soft_timeout = soft;
    plan_.loading.hard_timeout = hard;
    return *this;
  }
  /// Distributed single-flight: one instance loads a missing key, the others wait up to
  /// lock_wait for its value. On Redis the lock service is built for you; otherwise give one.
  CacheBuilder& distributed_single_flight(
      std::chrono::milliseconds lock_wait = std::chrono::seconds(2),
      std::shared_ptr<LockService> service = nullptr) {
    plan_.distributed_single_flight = true;
    plan_.loading.lock_wait = lock_wait;
    plan_.lock_service = std::move(service);
    return *this;
  }

  // ---- outages ----

  /// Degrade instead of throwing when Redis fails (reads miss or come from L1, writes are
  /// dropped and repaired later), with a circuit breaker so a dead Redis is not waited on.
  CacheBuilder& degrade(BreakerOptions breaker = {}) {
    plan_.degrade = true;
    plan_.breaker = breaker;
    return *this;
  }
  /// One time budget per backend call (a read with its stamp checks, a write), across its
  /// round trips; EntryOptions::deadline overrides it per call. 0 = none.
  CacheBuilder& call_deadline(std::chrono::milliseconds budget) {
    plan_.call_deadline = budget;
    return *this;
  }

  // ---- plumbing ----

  /// The one clock of every layer (TTLs, fail-safe times, breaker, statistics); a FakeClock in
  /// tests. Default: the real clocks.
  CacheBuilder& clock(std::shared_ptr<const Clock> clock) {
    plan_.clock = std::move(clock);
    return *this;
  }
  /// Where background loads run (refresh-ahead, stale-while-revalidate, timeouts). Default: the
  /// cache's own threads.
  CacheBuilder& executor(Executor executor) {
    plan_.loading.executor = std::move(executor);
    return *this;
  }
  CacheBuilder& background_threads(std::size_t n) {
    plan_.loading.background_threads = n;
    return *this;
  }
  CacheBuilder& stats(StatsOptions options) {
    plan_.stats = std::move(options);
    return *this;
  }
  CacheBuilder& listeners(CacheListeners listeners) {
    plan_.listeners = std::move(listeners);
    return *this;
  }
  /// Told about removals from the in-process store (the L1 when tiered), with the user's types.
  CacheBuilder& on_removal(RemovalFn listener) {
    plan_.on_removal = std::move(listener);
    return *this;
  }
  /// Expert settings of the loading engine (load_options.hpp), replacing what the chain set.
  CacheBuilder& loading(LoadOptions options) {
    plan_.loading = std::move(options);
    return *this;
  }

  // ---- result ----

  /// Checks the settings and builds the cache. Throws config_error naming what to change.
  Cache<K, V> build() const {
    detail::validate(plan_);
    detail::Built<K, V> built =
        plan_.remote() ? plan_.compose_remote(plan_) : detail::compose_in_process<K, V>(plan_);
    CacheOptions options = detail::cache_options(plan_, built);
    Cache<K, V> cache(built.backend, std::move(options), plan_.value_equal, plan_.ttl_group);
    for (const auto& attach : built.attach) attach(cache.shared_stats_recorder());
    return cache;
  }

  /// The layers build() would create, outermost first, one per line (credentials hidden).
  std::string describe() const {
    return detail::describe(plan_, plan_.remote() ? plan_.describe_remote(plan_) : "");
  }

  // NOLINTEND(performance-unnecessary-value-param)
 private:
  detail::BuildPlan<K, V> plan_;
};

}  // namespace ttlcache

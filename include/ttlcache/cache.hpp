// Cache<K,V>: the typed cache users hold; a thin facade over the load engine and its backend.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ttlcache/backend.hpp"
#include "ttlcache/cache_options.hpp"
#include "ttlcache/context.hpp"
#include "ttlcache/detail/key_text.hpp"
#include "ttlcache/detail/load_engine.hpp"
#include "ttlcache/detail/loader_ref.hpp"
#include "ttlcache/entry_options.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/key_pattern.hpp"
#include "ttlcache/load_options.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/stats.hpp"
#include "ttlcache/tags.hpp"
#include "ttlcache/ttl_group.hpp"
#include "ttlcache/value_equal.hpp"

namespace ttlcache {

/// A typed cache. Lookups return std::optional (a miss is not an error); get_or_load runs the
/// loader once per key however many threads miss at the same time. Build one with
/// CacheBuilder (builder.hpp), which puts the layers (memory, Redis, tiers, tags, fail-safe,
/// breaker) in the right order; or give it any Backend.
///
/// A Cache is a handle: copies share one engine (backend, statistics, loads in flight), so it
/// can be passed by value; the engine lives until the last copy is gone.
///
/// Thread-safety: every member may be called concurrently from any number of threads; the
/// guarantees are those of the backend plus single-flight loading per engine.
/// Exceptions: what the backend throws (see Backend's contract) and what loaders throw, which
/// get_or_load passes to every caller waiting on that load. Nothing is cached for a load that
/// threw. A value that loaded is returned even when storing it failed (the failure is counted).
template <class K, class V>
class Cache {
 public:
  using key_type = K;
  using mapped_type = V;
  using backend_type = Backend<K, V>;

  /// A cache over the given backend (shared: several caches, or a tiered backend, may use it).
  /// Throws argument_error for a null backend or invalid options.
  explicit Cache(std::shared_ptr<backend_type> backend, CacheOptions options = {})
      : engine_(std::make_shared<Engine>(std::move(backend), std::move(options))) {}
  /// As above, with the equality that tells a refresh which changed the value from one that
  /// did not, for an adaptive TtlPolicy (ValueEqual; CacheBuilder::value_equal). Empty: V's
  /// operator== when it has one.
  /// ttl_group names each key's group for the adaptive policy (TtlGroupFn;
  /// CacheBuilder::ttl_group); empty: none.
  Cache(std::shared_ptr<backend_type> backend, CacheOptions options, ValueEqual<V> value_equal,
        TtlGroupFn<K> ttl_group = {})
      : engine_(std::make_shared<Engine>(std::move(backend), std::move(options),
                                         std::move(value_equal), std::move(ttl_group))) {}

  /// A cache over a new in-process backend. Statistics use memory.clock unless
  /// options.stats.clock is set; options.listeners.on_removal is told about the backend's
  /// removals (after memory.removal_listener).
  explicit Cache(MemoryOptions<K, V> memory = {}, CacheOptions options = {})
      : Cache(make_memory_backend(memory, options), with_stats_clock(options, memory)) {}

  // ---- reads ----

  TTLCACHE_HOT std::optional<V> get(const K& key) { return engine_->get(key, nullptr); }
  /// As get(key), also counted under content_type in the statistics.
  std::optional<V> get(const K& key, std::string_view content_type) {
    return engine_->get(key, engine_->counters(content_type));
  }
  /// Zero-copy read: runs fn(const V&) on key's value and returns true, or false on a miss.
  /// On a plain in-process cache (no tags, fail-safe or refresh features) fn sees the stored
  /// value itself, pinned while fn runs: use it for large values or to extract a part of one.
  /// fn must be short and must not write to this cache. Elsewhere fn sees a copy (as get()).
  /// Counted as a read like get().
  template <class Fn>
  bool visit(const K& key, Fn&& fn) {
    return engine_->visit(key, fn);
  }
  /// True when visit() reads in place rather than on a copy.
  bool visits_in_place() const noexcept { return engine_->visits_in_place(); }
  bool contains(const K& key) { return engine_->contains(key); }
  /// Remaining lifetime, or nullopt when absent.
  std::optional<std::chrono::milliseconds> ttl(const K& key) { return engine_->ttl(key); }
  /// Results in the order of keys.
  std::vector<std::optional<V>> get_many(const std::vector<K>& keys) {
    return engine_->get_many(keys);
  }

  // ---- writes ----

  /// Stores value as options say (see EntryOptions): `set(key, value)` with the default TTL,
  /// `set(key, value, 5min)`, `set(key, value, EntryOptions().content_type("file").tag("u:1"))`.
  /// Throws argument_error for a non-positive TTL, tags on a cache without tag support, or a
  /// content type on a cache without a TtlPolicy.
  void set(const K& key, V value, const EntryOptions& options = {}) {
    engine_->set(key, std::move(value), options);
  }
  /// Sugar: the TtlPolicy's TTL for (content_type, context).
  void set(const K& key, V value, std::string_view content_type, const Context& context = {}) {
    set(key, std::move(value), EntryOptions().content_type(std::string(content_type), context));
  }
  /// Sugar: a TTL and tags (`{"user:42", "files"}` or `Tags{"user:42"}.entity("file")`).
  template <class Rep, class Period>
  void set(const K& key, V value, std::chrono::duration<Rep, Period> ttl, const Tags& tags) {
    set(key, std::move(value), EntryOptions(ttl).tags(tags));
  }

  /// Stores every entry with the same options (one batch on remote backends; with tags, one
  /// stamp read for the batch).
  void set_many(std::vector<std::pair<K, V>> items, const EntryOptions& options = {}) {
    engine_->set_many(std::move(items), options);
  }
  /// Stores entries each with its own TTL (untagged).
  void set_many(std::vector<Write<K, V>> writes) { engine_->set_many(std::move(writes)); }

  /// true if a live entry was removed. Counted as a key invalidation (whether or not the key was
  /// there: the count is of invalidation requests).
  bool erase(const K& key) { return engine_->erase(key); }
  void clear() { engine_->clear(); }
  std::size_t size() { return engine_->size(); }

  // ---- tags, entity versions, patterns (need tag support: CacheBuilder::tags()) ----

  /// Every entry carrying tag becomes a miss, on every instance sharing the backend. O(1).
  void invalidate_tag(std::string_view tag) { engine_->invalidate_tags({std::string(tag)}); }
  void invalidate_tags(const std::vector<std::string>& tags) { engine_->invalidate_tags(tags); }
  /// Every entry written under the current version of entity_type becomes a miss; returns the
  /// new (opaque, random) version.
  std::uint64_t bump_version(std::string_view entity_type) {
    return engine_->bump_version(entity_type);
  }
  /// The current version of entity_type (created when unknown).
  std::uint64_t version(std::string_view entity_type) { return engine_->version(entity_type); }
  /// Removes every entry whose encoded key starts with literal_prefix (glob characters match
  /// only themselves); returns how many were removed. For cases without a tag: it walks the
  /// keys (SCAN on Redis), unlike invalidate_tag.
  std::size_t invalidate_matching(std::string_view literal_prefix) {
    return engine_->invalidate_matching(literal_prefix, {});
  }
  /// As above, telling an adaptive TtlPolicy that data of content_type changed (a told change:
  /// it never shortens a TTL). The cache cannot know what a prefix holds (keys carry no content
  /// type); the caller, who chose the prefix, can.
  std::size_t invalidate_matching(std::string_view literal_prefix, std::string_view content_type) {
    return engine_->invalidate_matching(literal_prefix, content_type);
  }
  /// Removes every entry whose encoded key matches pattern (literal parts taken literally,
  /// so user text cannot widen it); returns how many. Walks keys like invalidate_matching.
  /// @throws argument_error when the backend has no pattern support.
  std::size_t invalidate_pattern(const KeyPattern& pattern) {
    return engine_->invalidate_pattern(pattern, {});
  }
  /// As above, reported to an adaptive TtlPolicy as an invalidation of content_type (see
  /// invalidate_matching).
  std::size_t invalidate_pattern(const KeyPattern& pattern, std::string_view content_type) {
    return engine_->invalidate_pattern(pattern, content_type);
  }

  // ---- loading ----

  /// Returns the cached value, or runs loader (callable as loader(key) or loader()), caches
  /// its result as options say and returns it. Concurrent callers missing the same key wait
  /// for one load and all receive its value, or its exception. The cache's LoadOptions add
  /// early refresh, refresh-ahead, stale-while-revalidate, fail-safe, timeouts and a
  /// distributed single-flight (load_options.hpp). With tags, the tag versions are read before
  /// the loader runs, so a value loaded while one of its tags is invalidated is stored as
  /// already stale.
  template <class Loader>
  V get_or_load(const K& key, Loader&& loader, const EntryOptions& options = {}) {
    return get_or_load_result(key, std::forward<Loader>(loader), options).value;
  }
  /// Sugar: the TtlPolicy's TTL for (content_type, context), computed after the load so that
  /// time-of-day rules see the time the value was produced.
  template <class Loader>
  V get_or_load(const K& key, Loader&& loader, std::string_view content_type,
                const Context& context = {}) {
    return get_or_load_result(key, std::forward<Loader>(loader), content_type, context).value;
  }
  /// Sugar: a TTL and tags.
  template <class Loader, class Rep, class Period>
  V get_or_load(const K& key, Loader&& loader, std::chrono::duration<Rep, Period> ttl,
                const Tags& tags) {
    return get_or_load_result(key, std::forward<Loader>(loader), EntryOptions(ttl).tags(tags))
        .value;
  }

  /// get_or_load that also tells whether the value is a stale fail-safe copy and whether it
  /// was a hit.
  template <class Loader>
  LoadResult<V> get_or_load_result(const K& key, Loader&& loader,
                                   const EntryOptions& options = {}) {
    return engine_->load(key, detail::LoaderRef<K, V>(loader), options);
  }
  template <class Loader>
  LoadResult<V> get_or_load_result(const K& key, Loader&& loader, std::string_view content_type,
                                   const Context& context = {}) {
    return engine_->load(key, detail::LoaderRef<K, V>(loader),
                         EntryOptions().content_type(std::string(content_type), context));
  }
  template <class Loader, class Rep, class Period>
  LoadResult<V> get_or_load_result(const K& key, Loader&& loader,
                                   std::chrono::duration<Rep, Period> ttl, const Tags& tags) {
    return engine_->load(key, detail::LoaderRef<K, V>(loader), EntryOptions(ttl).tags(tags));
  }

  /// Looks all keys up at once (one MGET on Redis), calls batch_loader once with the missing
  /// keys (each once, in first-seen order) and writes what it returns in one batch, as options
  /// say (TTL or content type, tags). The loader returns std::vector<V> or
  /// std::vector<std::optional<V>> answering its argument in order (nullopt: the source has no
  /// such key, nothing is cached), or a map from key to value. Results follow keys' order;
  /// nullopt where neither the cache nor the loader had a value. With fail_safe, a throwing
  /// loader is answered from stale copies when every missing key has one; otherwise its
  /// exception reaches the caller.
  template <class BatchLoader>
  std::vector<std::optional<V>> get_many_or_load(const std::vector<K>& keys,
                                                 BatchLoader&& batch_loader,
                                                 const EntryOptions& options = {}) {
    return engine_->load_many(keys, batch_loader, options);
  }

  /// Loads keys into the cache in batches of warm_options.batch_size, concurrency batches at a
  /// time, each written in one batch write as options say (TTL, tags); for start-up and cold
  /// starts. loader is per key (loader(key) -> V) or per batch (loader(const std::vector<K>&),
  /// returning as for get_many_or_load); it is called from several threads at once. A key
  /// whose load throws is counted as failed and skipped; so is a batch whose write fails.
  /// Returns the final counts; on_progress sees them after every batch (calls are serialised,
  /// done never goes down).
  template <class Loader>
  WarmProgress warm(const std::vector<K>& keys, Loader&& loader, const EntryOptions& options,
                    const WarmOptions& warm_options = {}) {
    return engine_->warm(keys, loader, options, warm_options);
  }
  template <class Loader>
  WarmProgress warm(const std::vector<K>& keys, Loader&& loader,
                    const WarmOptions& warm_options = {}) {
    return engine_->warm(keys, loader, EntryOptions(), warm_options);
  }

  // ---- introspection ----

  backend_type& backend() noexcept { return engine_->backend(); }
  std::shared_ptr<backend_type> shared_backend() const noexcept {
    return engine_->shared_backend();
  }
  const CacheOptions& options() const noexcept { return engine_->options(); }
  /// Keys whose load is running right now.
  std::size_t loads_in_flight() const { return engine_->loads_in_flight(); }

  // ---- statistics ----

  /// A snapshot of this cache's statistics plus the backend's own figures (size, removals by
  /// cause, corrupt values). Cheap enough to call per scrape: it sums the striped counters and
  /// takes no lock the hot path takes. Thread-safe. Throws std::bad_alloc only.
  CacheStats stats() const { return engine_->stats(); }
  /// The recorder, for layers that record into this cache's statistics (tiers, fail-safe,
  /// invalidation); null when statistics are off. CacheBuilder connects its layers itself.
  StatsRecorder* stats_recorder() const noexcept { return engine_->stats_recorder(); }
  std::shared_ptr<StatsRecorder> shared_stats_recorder() const noexcept {
    return engine_->shared_stats_recorder();
  }

 private:
  using Engine = detail::LoadEngine<K, V>;

  static std::shared_ptr<backend_type> make_memory_backend(MemoryOptions<K, V> memory,
                                                           const CacheOptions& options) {
    if (options.listeners.on_removal) {
      memory.removal_listener = [typed = std::move(memory.removal_listener),
                                 untyped = options.listeners.on_removal, name = options.name](
                                    const K& key, const V& value, RemovalCause cause) {
        if (typed) {
          try {
            typed(key, value, cause);
          } catch (...) {  // one listener's failure must not keep the other from being told
          }
        }
        const std::string text = detail::key_text(key);
        detail::notify(untyped, RemovalEvent{name, cause, text});
      };
    }
    return std::make_shared<MemoryBackend<K, V>>(std::move(memory));
  }
  static CacheOptions with_stats_clock(CacheOptions options, const MemoryOptions<K, V>& memory) {
    if (!options.stats.clock) options.stats.clock = memory.clock;
    return options;
  }

  std::shared_ptr<Engine> engine_;
};

}  // namespace ttlcache

// The engine behind Cache: backend calls (counted, timed, under a deadline) and the loading
// machinery (single-flight, XFetch, refresh-ahead, stale-while-revalidate, fail-safe, timeouts,
// the distributed lock, background work). Batches and warming are defined in
// load_engine_batch.hpp; include load_engine.hpp for both.
// This header is over 600 lines because it is one class whose parts share its private state;
// splitting it further would only move the threading of that state back into parameters.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ttlcache/backend.hpp"
#include "ttlcache/backend_stats.hpp"
#include "ttlcache/cache_options.hpp"
#include "ttlcache/deadline.hpp"
#include "ttlcache/detail/background.hpp"
#include "ttlcache/detail/load_shared.hpp"
#include "ttlcache/detail/loader_ref.hpp"
#include "ttlcache/detail/single_flight.hpp"
#include "ttlcache/detail/tag_type_index.hpp"
#include "ttlcache/entry_options.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/fail_safe.hpp"
#include "ttlcache/key_pattern.hpp"
#include "ttlcache/load_options.hpp"
#include "ttlcache/lock.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/stats.hpp"
#include "ttlcache/tags.hpp"
#include "ttlcache/ttl_group.hpp"
#include "ttlcache/value_equal.hpp"

// The hit path (Cache::get -> LoadEngine::get -> call -> counted) is forced inline: GCC left
// counted() out of line once the engine moved out of Cache, costing ~35 instructions a hit.
#if defined(__GNUC__) || defined(__clang__)
#define TTLCACHE_HOT inline __attribute__((always_inline))
#else
#define TTLCACHE_HOT inline
#endif

namespace ttlcache::detail {

template <class T, class = void>
struct is_map : std::false_type {};
template <class T>
struct is_map<T, std::void_t<typename T::mapped_type>> : std::true_type {};

/// The engine of one Cache. Users never name it: Cache is its facade, CacheBuilder its factory.
/// Thread-safety: every member may be called concurrently. Exceptions: those of the backend
/// (counted and reported, then rethrown unchanged) and of loaders (passed to every waiter).
template <class K, class V>
class LoadEngine {
 public:
  using backend_type = Backend<K, V>;
  using ContentTypeCounters = StatsRecorder::ContentTypeCounters;
  using TtlFn = std::function<std::chrono::milliseconds()>;

  /// Everything one load needs, resolved once from the EntryOptions and the cache's defaults
  /// instead of being threaded through every step as loose parameters.
  struct Request {
    TtlFn ttl;
    ContentTypeCounters* ct = nullptr;
    std::string_view content_type;
    /// The key group (EntryOptions::ttl_group, or the cache's TtlGroupFn for the call's key);
    /// empty = none. Reported with every observation; the TTL is the group's.
    std::string group;
    const Tags* tags = nullptr;
    bool fail_safe = false;
    std::chrono::milliseconds soft_timeout{0};
    std::chrono::milliseconds hard_timeout{0};
    /// The budget of this cache call's backend work, across all its backend calls (a read,
    /// the stamps, the write); the loader's own time is not counted. 0 = none.
    std::chrono::milliseconds deadline{0};
    /// What the backend calls of this request have used of deadline so far.
    mutable std::chrono::nanoseconds spent{0};
  };

  /// value_equal: how a refresh's value is compared with the copy it replaces (adaptive TTL);
  /// empty: V's operator== when it has one, else reloads are not compared.
  /// ttl_group: names each key's group for the adaptive policy (empty: none).
  LoadEngine(std::shared_ptr<backend_type> backend, CacheOptions options,
             ValueEqual<V> value_equal = {}, TtlGroupFn<K> ttl_group = {})
      : backend_(std::move(backend)),
        options_(std::move(options)),
        group_fn_(std::move(ttl_group)) {
    if (!backend_) throw argument_error("ttlcache: Cache needs a backend");
    if (options_.default_ttl.count() <= 0) {
      throw_bad_ttl(backend_->name(), static_cast<long long>(options_.default_ttl.count()));
    }
    if (options_.call_deadline.count() < 0) {
      throw argument_error(who() + "call_deadline must not be negative");
    }
    init_stats();
    init_loading();
    bg_->policy = options_.ttl_policy;
    bg_->equal = value_equal_or_default<V>(std::move(value_equal));
  }
  LoadEngine(const LoadEngine&) = delete;
  LoadEngine& operator=(const LoadEngine&) = delete;

  // ---- plain operations ----

  TTLCACHE_HOT std::optional<V> get(const K& key, ContentTypeCounters* ct) {
    std::optional<V> out = call("get", [&] { return backend_->get(key); });
    if (stats_) record_read(out.has_value(), ct);
    return out;
  }
  /// fn(const V&) on the value in place when the store is a plain MemoryBackend; on a copy
  /// from get() otherwise. true when found.
  template <class Fn>
  bool visit(const K& key, Fn& fn) {
    if (memory_) {
      const bool found = memory_->visit(key, fn);
      if (stats_) record_read(found, nullptr);
      return found;
    }
    auto value = get(key, nullptr);
    if (value) fn(static_cast<const V&>(*value));
    return value.has_value();
  }
  /// True when visit() reads in place (the cache's store is a plain in-process one).
  bool visits_in_place() const noexcept { return memory_ != nullptr; }

  bool contains(const K& key) {
    return call("contains", [&] { return backend_->contains(key); });
  }
  std::optional<std::chrono::milliseconds> ttl(const K& key) {
    return call("ttl", [&] { return backend_->ttl(key); });
  }
  std::vector<std::optional<V>> get_many(const std::vector<K>& keys) {
    auto out = call("get_many", [&] { return backend_->get_many(keys); });
    if (stats_) {
      for (const auto& v : out) v ? stats_->record_hit() : stats_->record_miss();
    }
    return out;
  }

  void set(const K& key, V value, const EntryOptions& eo) {
    Request req = request(eo, key);
    const auto ttl = req.ttl();
    bg_->note_write(key);  // before the write: a load that read the source earlier must not
                           // store over it (LoadShared::store_loaded)
    call("set", req, [&] {
      if (req.tags) {
        auto& tagged = tag_support(*backend_);
        tagged.set_stamped(key, std::move(value), ttl, tagged.stamps_for(*req.tags, ttl));
      } else {
        backend_->set(key, std::move(value), ttl);
      }
    });
    if (stats_ && req.ct) stats_->record_set(*req.ct);
    remember_types(req);
    observe(req, TtlObservation::Kind::write);
  }

  /// Entries with their own TTLs, untagged.
  void set_many(std::vector<Write<K, V>> writes) {
    for (const auto& w : writes) check_ttl(w.ttl);
    for (const auto& w : writes) bg_->note_write(w.key);
    call("set_many", [&] { backend_->set_many(std::move(writes)); });
  }
  /// Entries sharing one EntryOptions (TTL computed once; one stamp read for all). With a
  /// TtlGroupFn while the policy adapts: once per key group, each with the group's TTL.
  void set_many(std::vector<std::pair<K, V>> items, const EntryOptions& eo) {
    if (!groups_per_key(eo)) {
      set_many_in(std::move(items), request(eo));
      return;
    }
    std::map<std::string, std::vector<std::pair<K, V>>> parts;
    for (auto& item : items) {
      const K& key = item.first;
      parts[group_fn_(key)].push_back(std::move(item));
    }
    for (auto& part : parts) set_many_in(std::move(part.second), request_in(eo, part.first));
  }
  void set_many_in(std::vector<std::pair<K, V>> items, const Request& req) {
    std::vector<K> keys;
    std::vector<std::optional<V>> values;
    keys.reserve(items.size());
    values.reserve(items.size());
    for (auto& item : items) {
      keys.push_back(std::move(item.first));
      values.emplace_back(std::move(item.second));
    }
    const auto ttl = req.ttl();
    auto stamps = stamps_for(req, ttl);
    for (const auto& key : keys) bg_->note_write(key);
    const std::size_t count = keys.size();
    write_many(std::move(keys), std::move(values), ttl, 0, stamps, req);
    remember_types(req);
    // Told changes, one per entry as set() reports them (they never shorten a TTL).
    for (std::size_t i = 0; i < count; ++i) observe(req, TtlObservation::Kind::write);
  }

  bool erase(const K& key) {
    bg_->note_write(key);
    const bool removed = call("erase", [&] { return backend_->erase(key); });
    if (stats_) {
      if (stats_->listeners().on_invalidation) {
        const std::string text = key_text(key);
        stats_->record_invalidation(InvalidationKind::key, text);
      } else {
        stats_->record_invalidation(InvalidationKind::key);
      }
    }
    return removed;
  }
  void clear() {
    bg_->note_invalidation();
    call("clear", [&] { backend_->clear(); });
  }
  std::size_t size() {
    return call("size", [&] { return backend_->size(); });
  }

  // ---- tags (through call(), like every backend operation) ----

  void invalidate_tags(const std::vector<std::string>& tags) {
    auto& t = tag_support(*backend_);
    bg_->note_invalidation();
    call("invalidate_tags", [&] { t.invalidate_tags(tags); });
    if (stats_) {
      for (const auto& tag : tags) stats_->record_invalidation(InvalidationKind::tag, tag);
    }
    // Tags carry no content type: report the types stored under them (issue 18).
    if (learning()) report_invalidations(tag_types_.types_of_tags(tags));
  }
  std::uint64_t bump_version(std::string_view entity_type) {
    auto& t = tag_support(*backend_);
    bg_->note_invalidation();
    const std::uint64_t v = call("bump_version", [&] { return t.bump_version(entity_type); });
    if (stats_) stats_->record_invalidation(InvalidationKind::version, entity_type);
    if (learning()) report_invalidations(tag_types_.types_of_entity(entity_type));
    return v;
  }
  std::uint64_t version(std::string_view entity_type) {
    auto& t = tag_support(*backend_);
    return call("version", [&] { return t.version(entity_type); });
  }
  // content_type: what the caller says the prefix or pattern holds (may be empty). Keys carry
  // no content type, so the cache reports only what it is told (issue 18).
  std::size_t invalidate_matching(std::string_view literal_prefix, std::string_view content_type) {
    auto& t = tag_support(*backend_);
    bg_->note_invalidation();
    const std::size_t n =
        call("invalidate_matching", [&] { return t.invalidate_matching(literal_prefix); });
    // One request, whatever it removed (the event carries the count).
    if (stats_) stats_->record_invalidation(InvalidationKind::pattern, literal_prefix, n);
    report_invalidation(content_type);
    return n;
  }

  std::size_t invalidate_pattern(const KeyPattern& pattern, std::string_view content_type) {
    auto& t = tag_support(*backend_);
    bg_->note_invalidation();
    const std::size_t n = call("invalidate_pattern", [&] { return t.invalidate_pattern(pattern); });
    if (stats_) stats_->record_invalidation(InvalidationKind::pattern, pattern.to_string(), n);
    report_invalidation(content_type);
    return n;
  }

  // ---- loading ----

  /// get_or_load's engine. A value that loaded is always returned, even when storing it fails
  /// (the failure is counted); with fail-safe, a backend that cannot be read is a miss.
  LoadResult<V> load(const K& key, const LoaderRef<K, V>& loader, const EntryOptions& eo) {
    Request req = request(eo, key);
    observe(req, TtlObservation::Kind::read);
    if (req.tags) tag_support(*backend_);  // a clear error before anything when not tag-aware
    if (timed_) return load_timed(key, loader, req);
    std::optional<V> hit;
    try {
      hit = call("get", req, [&] { return backend_->get(key); });
    } catch (const backend_error&) {
      if (!req.fail_safe) throw;  // (fail-safe implies timed_; kept for clarity)
    }
    if (hit) {
      if (stats_) record_read(true, req.ct);
      return {std::move(*hit), false, true};
    }
    if (stats_) record_read(false, req.ct);
    return flights_.run(key, bg_->write_epoch(key), [&]() -> LoadResult<V> {
      // A load for this key may have finished between our miss and our turn as leader.
      if (auto again = call("get", req, [&] { return backend_->get(key); })) {
        return {std::move(*again), false, true};
      }
      std::optional<Timed<V>> no_stale;
      return lead_load(key, loader, req, no_stale);
    });
  }

  template <class BatchLoader>
  std::vector<std::optional<V>> load_many(const std::vector<K>& keys, BatchLoader& batch_loader,
                                          const EntryOptions& eo);
  template <class BatchLoader>
  std::vector<std::optional<V>> load_many_in(const std::vector<K>& keys, BatchLoader& batch_loader,
                                             const Request& req);
  template <class Loader>
  WarmProgress warm(const std::vector<K>& keys, Loader& loader, const EntryOptions& eo,
                    const WarmOptions& wo);

  // ---- introspection ----

  backend_type& backend() noexcept { return *backend_; }
  const std::shared_ptr<backend_type>& shared_backend() const noexcept { return backend_; }
  const CacheOptions& options() const noexcept { return options_; }
  std::size_t loads_in_flight() const { return flights_.in_flight(); }
  StatsRecorder* stats_recorder() const noexcept { return stats_.get(); }
  const std::shared_ptr<StatsRecorder>& shared_stats_recorder() const noexcept { return stats_; }
  /// The counters of content type (nullptr without statistics or without a type).
  ContentTypeCounters* counters(std::string_view content_type) {
    return stats_ && !content_type.empty() ? &stats_->content_type(content_type) : nullptr;
  }

  // The policy's estimate (a content type's or a group's) as Cache::stats() reports it.
  template <class From, class To>
  static void copy_estimate(const From& from, To& to) {
    to.factor = from.factor;
    to.change_interval = from.change_interval;
    to.unseen_changes = from.observed_changes;
    to.told_changes = from.told_changes;
    to.reads = from.observed_reads;
  }

  CacheStats stats() const {
    CacheStats out;
    if (stats_) {
      stats_->snapshot_into(out);
    } else {
      out.cache = options_.name;
      out.enabled = false;
    }
    out.backend = std::string(backend_->name());
    out.loads_in_flight = flights_.in_flight();
    if (options_.ttl_policy) {
      for (const auto& a : options_.ttl_policy->adaptive_stats()) {
        AdaptiveTtlStats& o = out.adaptive_ttl[a.content_type];
        copy_estimate(a, o);
        for (const auto& g : a.groups) copy_estimate(g, o.groups[g.group]);
        o.untracked_group_observations = a.untracked_group_observations;
      }
    }
    if (source_) {
      BackendStats b;
      source_->collect_stats(b);
      out.entries = b.entries;
      out.weight_bytes = b.weight;
      out.removals = b.removals;
      out.corrupt_values = b.corrupt_values;
      for (const auto& tier : b.tiers) {
        TierStats& t = out.tiers[tier.name];
        t.hits += tier.hits;
        t.misses += tier.misses;
      }
      if (b.remote_invalidations) {
        out.invalidations[static_cast<std::size_t>(InvalidationKind::remote)] +=
            *b.remote_invalidations;
      }
    }
    return out;
  }

 private:
  using LoaderFn = typename LoadShared<K, V>::LoaderFn;

  std::string who() const { return "ttlcache cache '" + options_.name + "': "; }

  void check_ttl(std::chrono::milliseconds ttl) const {
    if (ttl.count() <= 0) throw_bad_ttl(backend_->name(), static_cast<long long>(ttl.count()));
  }

  // The request of a call without one key (batches, warm): the per-call group only.
  Request request(const EntryOptions& eo) { return request_in(eo, eo.ttl_group()); }
  // The request of a call for key: its group from EntryOptions or the cache's TtlGroupFn.
  Request request(const EntryOptions& eo, const K& key) {
    return request_in(eo, group_of(eo, key));
  }

  // Key groups (adaptive TTL): the per-call group, else the cache's function while the policy
  // adapts. Free when neither is set: two empty checks.
  std::string group_of(const EntryOptions& eo, const K& key) const {
    if (eo.content_type().empty()) return {};
    if (!eo.ttl_group().empty()) return eo.ttl_group();
    if (group_fn_ && learning()) return group_fn_(key);
    return {};
  }
  // Whether a batch splits into one request per key group.
  bool groups_per_key(const EntryOptions& eo) const noexcept {
    return group_fn_ && !eo.content_type().empty() && eo.ttl_group().empty() && learning();
  }

  Request request_in(const EntryOptions& eo, std::string group) {
    Request req;
    const LoadOptions& lo = options_.loading;
    if (eo.content_type().empty()) group.clear();
    if (eo.ttl() || eo.content_type().empty()) {
      const auto ms = eo.ttl() ? *eo.ttl() : options_.default_ttl;
      check_ttl(ms);
      if (options_.ttl_jitter) {
        req.ttl = [ms, jitter = options_.ttl_jitter] { return jitter->apply(ms); };
      } else {
        req.ttl = [ms] { return ms; };
      }
    } else {
      if (!options_.ttl_policy) no_policy();
      if (group.empty()) {
        req.ttl = [policy = options_.ttl_policy, type = eo.content_type(), context = eo.context()] {
          return policy->ttl_for(type, context);
        };
      } else {
        req.ttl = [policy = options_.ttl_policy, type = eo.content_type(), context = eo.context(),
                   group] { return policy->ttl_for_group(type, group, context); };
      }
    }
    req.group = std::move(group);
    req.content_type = eo.content_type();
    req.ct = counters(eo.content_type());
    req.tags = eo.tags();
    req.fail_safe = eo.fail_safe().value_or(lo.fail_safe);
    if (req.fail_safe && !timed_) {
      throw argument_error(who() +
                           "fail-safe was asked for this call, but the cache keeps no "
                           "stale copies (build it with fail_safe())");
    }
    req.soft_timeout = eo.soft_timeout().value_or(lo.soft_timeout);
    req.hard_timeout = eo.hard_timeout().value_or(lo.hard_timeout);
    check_timeouts(req.soft_timeout, req.hard_timeout);
    req.deadline = eo.deadline().value_or(options_.call_deadline);
    return req;
  }

  void check_timeouts(std::chrono::milliseconds soft, std::chrono::milliseconds hard) const {
    if (soft.count() < 0 || hard.count() < 0) {
      throw argument_error(who() + "soft_timeout and hard_timeout must not be negative");
    }
    if (soft.count() > 0 && hard.count() > 0 && hard <= soft) {
      throw argument_error(who() + "hard_timeout must be longer than soft_timeout");
    }
  }

  // The path over a backend that keeps entry times (fail-safe, early refresh, refresh-ahead).
  LoadResult<V> load_timed(const K& key, const LoaderRef<K, V>& loader, const Request& req) {
    std::optional<Timed<V>> entry;
    try {
      entry = call("get", req, [&] { return timed_->get_timed(key); });
    } catch (const backend_error&) {
      if (!req.fail_safe) throw;  // fail-safe: a cache that cannot be read is a miss
    }
    const std::int64_t now_us = timed_->now_us();
    if (entry && now_us < entry->fresh_until_ms * 1000) {
      if (stats_) record_read(true, req.ct);
      if (entry->fail_safe) {  // a stale copy standing in while the source fails
        if (stats_) stats_->record_stale_served(req.ct);
        return {std::move(entry->value), true, true};
      }
      const LoadOptions& lo = options_.loading;
      if (lo.early_refresh && refresh_early(*entry, now_us)) {
        const std::uint64_t epoch = bg_->write_epoch(key);
        auto refreshed = flights_.try_run(
            key,
            [&]() -> LoadResult<V> {
              try {
                std::optional<Timed<V>> no_stale;
                return lead_load(key, loader, req, no_stale, &*entry);
              } catch (...) {  // the current value is still fresh: keep serving it
                return {entry->value, false, true};
              }
            },
            epoch);
        if (refreshed) return std::move(*refreshed);
      } else if (lo.refresh_ahead_at > 0 && due_for_refresh(*entry, now_us)) {
        refresh_ahead(key, loader, req, *entry, false);
      }
      return {std::move(entry->value), false, true};
    }
    if (entry && within_revalidate_window(*entry, now_us) &&
        refresh_ahead(key, loader, req, *entry, true)) {
      if (stats_) {
        record_read(true, req.ct);
        stats_->record_stale_served(req.ct);
      }
      return {std::move(entry->value), true, true};
    }
    if (stats_) record_read(false, req.ct);
    return flights_.run(key, bg_->write_epoch(key), [&]() -> LoadResult<V> {
      std::optional<Timed<V>> again;
      try {
        again = call("get", req, [&] { return timed_->get_timed(key); });
      } catch (const backend_error&) {
        if (!req.fail_safe) throw;
      }
      if (again && timed_->now_ms() < again->fresh_until_ms) {
        return {std::move(again->value), again->fail_safe, true};
      }
      if (!again) again = std::move(entry);
      if (again && timed_->now_ms() >= again->stale_until_ms) again.reset();
      // The stale copy, if kept, is also what the reload is compared with (adaptive TTL).
      return lead_load(key, loader, req, again, again ? &*again : nullptr);
    });
  }

  // XFetch: refresh with probability exp(-t_left / (beta * delta)), i.e. when
  // -beta * delta * ln(u) >= t_left for u uniform in (0, 1].
  bool refresh_early(const Timed<V>& entry, std::int64_t now_us) const {
    if (entry.load_us == 0) return false;
    const double t_left = static_cast<double>(entry.fresh_until_ms * 1000 - now_us);
    const double delta = options_.loading.early_refresh_beta * static_cast<double>(entry.load_us);
    return -delta * std::log(uniform()) >= t_left;
  }
  double uniform() const {
    if (options_.loading.random) return options_.loading.random();
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return 1.0 - std::uniform_real_distribution<double>(0.0, 1.0)(rng);  // (0, 1]
  }
  // Stale-while-revalidate: expired, but by less than the window (and still kept).
  bool within_revalidate_window(const Timed<V>& entry, std::int64_t now_us) const {
    const std::int64_t window = options_.loading.stale_while_revalidate.count();
    return window > 0 && now_us < (entry.fresh_until_ms + window) * 1000 &&
           now_us < entry.stale_until_ms * 1000;
  }
  bool due_for_refresh(const Timed<V>& entry, std::int64_t now_us) const {
    const double total = static_cast<double>(entry.fresh_until_ms - entry.written_ms) * 1000.0;
    const double elapsed = static_cast<double>(now_us - entry.written_ms * 1000);
    return total > 0 && elapsed >= options_.loading.refresh_ahead_at * total;
  }

  // Starts a background reload of key unless one is running. `current` is the cached copy it
  // replaces: compared with the reload while the policy adapts, and, when `expired` (the copy
  // stale-while-revalidate serves) under fail-safe, kept for fail_safe_ttl if the reload fails.
  // False when the reload cannot run in the background (a move-only loader, or the tag stamps
  // could not be read), so stale-while-revalidate loads in the foreground instead.
  bool refresh_ahead(const K& key, const LoaderRef<K, V>& loader, const Request& req,
                     const Timed<V>& current, bool expired) {
    if (!loader.copyable()) return false;
    {  // one refresh per key at a time; a load already running will store a fresh value
      std::lock_guard<std::mutex> lock(bg_->mutex);
      if (bg_->running.count(key) != 0) return true;
    }
    try {
      const auto ttl = req.ttl();
      const bool keep = expired && req.fail_safe;
      std::optional<Timed<V>> previous;  // copied only when someone needs it
      if (keep || bg_->compares_reloads(req.content_type)) previous = current;
      start_background(key, loader, req, stamps_for(req, ttl), std::move(previous), keep);
    } catch (const error&) {  // the stamps could not be read: no refresh this time
      return false;
    }
    return true;
  }

  // The tag versions a load is stored under, read before it runs (so a tag invalidated during
  // the load leaves the value stale); nullopt without tags.
  std::optional<std::vector<Stamp>> stamps_for(const Request& req, std::chrono::milliseconds ttl) {
    if (!req.tags) return std::nullopt;
    auto& t = tag_support(*backend_);
    return call("stamps_for", req, [&] { return t.stamps_for(*req.tags, ttl); });
  }

  // The leader's load: distributed lock (optional), then the loader, directly or on the
  // executor when timeouts are set; fail-safe answers a failure from stale when it can.
  // previous is the copy the load replaces, when it has one: the reload is compared with it
  // while the policy adapts (LoadShared::report_reload).
  LoadResult<V> lead_load(const K& key, const LoaderRef<K, V>& loader, const Request& req,
                          std::optional<Timed<V>>& stale, const Timed<V>* previous = nullptr) {
    const LoadOptions& lo = options_.loading;
    std::unique_ptr<LockLease> lease;
    struct Release {
      std::unique_ptr<LockLease>& lease;
      ~Release() {
        if (!lease) return;
        try {
          lease->release();
        } catch (...) {  // the lease runs out by itself
        }
      }
    } release{lease};
    if (lo.lock_service) {
      if (auto peer = wait_for_peer(key, lease)) return std::move(*peer);
    }
    std::optional<std::vector<Stamp>> stamps;
    try {
      stamps = stamps_for(req, req.ttl());
    } catch (const backend_error&) {
      // Tag versions unreadable: load anyway and do not store (an unstamped copy could outlive
      // an invalidation it never saw).
      if (!req.fail_safe) throw;
      return {run_loader(loader, key, req), false, false};
    }
    if (req.soft_timeout.count() > 0 || req.hard_timeout.count() > 0) {
      return load_with_timeouts(key, loader, req, stale, stamps, previous);
    }
    const std::int64_t started = bg_->clock_us();
    const std::uint64_t seen = bg_->writes_seen(key);  // before the loader reads the source
    std::optional<V> value;
    try {
      value.emplace(run_loader(loader, key, req));
    } catch (...) {
      if (req.fail_safe && stale) return serve_stale(key, std::move(*stale), req, true, stamps);
      throw;
    }
    const std::int64_t took = bg_->clock_us() - started;
    remember_types(req);
    bool raced = false;  // a write began during the load: its change is a told one
    try {
      // Not reported to the TTL policy as a write: a load after a miss or an expiry says
      // nothing about the data changing (set() and invalidations through the cache do); a
      // reload over a copy it has at hand reports whether that copy was still right.
      call("set", req,
           [&] { raced = !bg_->store_loaded(key, *value, req.ttl(), took, stamps, seen); });
    } catch (const backend_error&) {  // counted by call(); the value is still the answer
    }
    if (!raced && previous && bg_->compares_reloads(req.content_type)) {
      bg_->report_reload(req.content_type, req.group, *previous, *value);
    }
    return {std::move(*value), false, false};
  }

  // Distributed single-flight. Takes the lock, or waits for the holder's value; nullopt means
  // "load it here" (with lease set when we hold the lock).
  std::optional<LoadResult<V>> wait_for_peer(const K& key, std::unique_ptr<LockLease>& lease) {
    const LoadOptions& lo = options_.loading;
    const std::string name = options_.name + ":load:" + key_text(key);
    enum class Got { lock, busy, unavailable };
    auto take = [&] {
      try {
        lease = lo.lock_service->try_lock(name, lo.lock_lease);
      } catch (const error&) {  // lock service down: load without it rather than not at all
        lease.reset();
        return Got::unavailable;
      }
      return lease ? Got::lock : Got::busy;
    };
    auto fresh = [&]() -> std::optional<LoadResult<V>> {
      try {
        if (auto hit = backend_->get(key)) return LoadResult<V>{std::move(*hit), false, true};
      } catch (const backend_error&) {
      }
      return std::nullopt;
    };
    Got got = take();
    const auto deadline = std::chrono::steady_clock::now() + lo.lock_wait;
    while (got == Got::busy && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(lo.lock_poll);
      if (auto hit = fresh()) return hit;
      got = take();
    }
    // Holding the lock: the previous holder may have stored the value just before releasing.
    if (got == Got::lock) return fresh();
    return std::nullopt;
  }

  LoadResult<V> load_with_timeouts(const K& key, const LoaderRef<K, V>& loader, const Request& req,
                                   std::optional<Timed<V>>& stale,
                                   const std::optional<std::vector<Stamp>>& stamps,
                                   const Timed<V>* previous) {
    std::optional<Timed<V>> compare_with;  // the background load compares (adaptive TTL)
    if (previous && bg_->compares_reloads(req.content_type)) compare_with = *previous;
    auto pending = start_background(key, loader, req, stamps, std::move(compare_with));
    const bool can_serve_stale = req.fail_safe && stale.has_value();
    std::chrono::milliseconds waited{0};
    if (req.soft_timeout.count() > 0 && can_serve_stale) {
      if (!pending->wait_for(req.soft_timeout)) return serve_stale(key, *stale, req, false, stamps);
      waited = req.soft_timeout;
    }
    bool done = true;
    if (req.hard_timeout.count() > 0) {
      done = pending->wait_for(req.hard_timeout - waited);
    } else {
      pending->wait_for(std::chrono::milliseconds(0));  // no hard timeout: as long as it takes
    }
    if (!done) {
      if (can_serve_stale) return serve_stale(key, *stale, req, false, stamps);
      throw timeout_error("loader", who() + "the load of key " + key_text(key) +
                                        " did not finish within " +
                                        std::to_string(req.hard_timeout.count()) +
                                        " ms (hard_timeout); it goes on in the background");
    }
    try {
      return {pending->get(), false, false};
    } catch (...) {
      if (can_serve_stale) return serve_stale(key, std::move(*stale), req, true, stamps);
      throw;
    }
  }

  // Fail-safe: the stale copy is served; after a failed load it is also stored again (see
  // restore_stale), so the source is retried after fail_safe_ttl, not on every read.
  LoadResult<V> serve_stale(const K& key, Timed<V> stale, const Request& req, bool restore,
                            const std::optional<std::vector<Stamp>>& stamps) {
    if (restore) {
      DeadlineScope scope(req.deadline);
      bg_->restore_stale(key, stale, stamps);
    }
    if (stats_) stats_->record_stale_served(req.ct);
    return {std::move(stale.value), true, false};
  }

  // Starts (or joins) the background load of key; the loader must be copyable.
  // previous: the copy the load replaces (compared with it while the policy adapts, restored
  // when the load fails and restore_on_failure).
  std::shared_ptr<PendingLoad<V>> start_background(const K& key, const LoaderRef<K, V>& loader,
                                                   const Request& req,
                                                   std::optional<std::vector<Stamp>> stamps,
                                                   std::optional<Timed<V>> previous = std::nullopt,
                                                   bool restore_on_failure = false) {
    if (!loader.copyable()) {
      throw argument_error(who() +
                           "soft_timeout/hard_timeout run the loader in the background, so "
                           "it must be copyable");
    }
    std::shared_ptr<PendingLoad<V>> pending;
    const std::uint64_t epoch = bg_->write_epoch(key);
    {
      std::lock_guard<std::mutex> lock(bg_->mutex);
      auto [it, inserted] = bg_->running.try_emplace(key);
      // Join the load already running, unless it began before a write this call must see
      // (then it runs on for its own waiters, and this call starts a newer one).
      if (!inserted && it->second->epoch >= epoch) return it->second;
      it->second = std::make_shared<PendingLoad<V>>();
      it->second->epoch = epoch;
      pending = it->second;
    }
    remember_types(req);  // the background load stores under req's tags
    LoaderFn fn = loader.bind(key);
    auto task = [bg = bg_, key, fn = std::move(fn), ttl_fn = req.ttl, ct = req.ct,
                 type = std::string(req.content_type), group = req.group, deadline = req.deadline,
                 pending, stamps = std::move(stamps), previous = std::move(previous),
                 restore_on_failure]() mutable {
      bg->run(key, fn, ttl_fn, ct, type, group, deadline, pending, stamps, previous,
              restore_on_failure);
    };
    try {
      submit(std::move(task));
    } catch (...) {
      pending->fail(std::current_exception());
      std::lock_guard<std::mutex> lock(bg_->mutex);
      const auto it = bg_->running.find(key);
      if (it != bg_->running.end() && it->second == pending) bg_->running.erase(it);
    }
    return pending;
  }

  void submit(std::function<void()> task) {
    if (options_.loading.executor) {
      options_.loading.executor(std::move(task));
      return;
    }
    std::call_once(pool_once_, [&] {
      pool_ = std::make_unique<WorkerPool>(options_.loading.background_threads);
    });
    pool_->submit(std::move(task));
  }

  // ---- batches (load_engine_batch.hpp) ----

  template <class BatchLoader>
  std::vector<std::optional<V>> call_batch_loader(BatchLoader& loader, const std::vector<K>& keys);
  void read_many(const std::vector<K>& keys, std::vector<std::optional<V>>& out,
                 std::vector<std::optional<Timed<V>>>* stale, const Request& req);
  void write_many(std::vector<K> keys, std::vector<std::optional<V>> values,
                  std::chrono::milliseconds ttl, std::int64_t took_us,
                  const std::optional<std::vector<Stamp>>& stamps, const Request& req);

  // ---- statistics and backend calls ----

  /// Tells the TTL policy (an adaptive DynamicTTL learns from it) what happened to data of the
  /// request's content type; nothing without a policy or a content type.
  void observe(const Request& req, TtlObservation::Kind kind) const noexcept {
    if (!options_.ttl_policy || req.content_type.empty()) return;
    TtlObservation o;
    o.kind = kind;
    o.content_type = req.content_type;
    o.group = req.group;
    options_.ttl_policy->observe(o);
  }

  // Adaptive TTL (issue 18): whether the policy learns, so the bookkeeping below is only paid
  // for when someone uses it.
  bool learning() const noexcept { return options_.ttl_policy && options_.ttl_policy->adapts(); }
  // Remembers the content type of an entry stored under tags (a bounded map), so that
  // invalidate_tags and bump_version can report the change by content type.
  void remember_types(const Request& req) noexcept {
    if (req.tags && !req.content_type.empty() && learning()) {
      tag_types_.remember(*req.tags, req.content_type);
    }
  }
  // A told change: the cache removed the entries, so the policy must not shorten their TTL
  // for it (see AdaptiveTtl); it still learns that the data changes.
  void report_invalidations(const std::vector<std::string>& types) const noexcept {
    for (const auto& type : types) report_invalidation(type);
  }
  void report_invalidation(std::string_view type) const noexcept {
    if (type.empty() || !options_.ttl_policy) return;
    TtlObservation o;
    o.kind = TtlObservation::Kind::invalidation;
    o.content_type = type;
    options_.ttl_policy->observe(o);
  }

  // Requires stats_.
  void record_read(bool hit, ContentTypeCounters* ct) noexcept {
    if (ct) {
      hit ? stats_->record_hit(*ct) : stats_->record_miss(*ct);
    } else {
      hit ? stats_->record_hit() : stats_->record_miss();
    }
  }

  V run_loader(const LoaderRef<K, V>& loader, const K& key, const Request& req) {
    if (!stats_) return loader(key);
    const std::int64_t start = stats_->now_ns();
    try {
      V value = loader(key);
      stats_->record_load(stats_->now_ns() - start, req.ct);
      return value;
    } catch (...) {
      stats_->record_load_failure(stats_->now_ns() - start, std::current_exception(),
                                  req.content_type, req.ct);
      throw;
    }
  }

  // Times a backend call when asked to (see BackendTiming); the destructor records, so a call
  // that throws is timed too.
  class BackendTimer {
   public:
    explicit BackendTimer(StatsRecorder* recorder) noexcept
        : recorder_(recorder), start_(recorder ? recorder->now_ns() : 0) {}
    ~BackendTimer() {
      if (recorder_) recorder_->record_backend_call(recorder_->now_ns() - start_);
    }
    BackendTimer(const BackendTimer&) = delete;
    BackendTimer& operator=(const BackendTimer&) = delete;

   private:
    StatsRecorder* recorder_;
    std::int64_t start_;
  };

 public:
  /// Every backend call goes through here, tag operations included: backend errors are counted
  /// and reported (then rethrown unchanged), remote calls are timed, and the call runs under
  /// the deadline (deadline.hpp) when one is set.
  template <class Fn>
  TTLCACHE_HOT decltype(auto) call(std::string_view operation, std::chrono::milliseconds deadline,
                                   Fn&& fn) {
    if (deadline.count() > 0) {
      DeadlineScope scope(deadline);
      return counted(operation, fn);
    }
    return counted(operation, fn);  // the hot path: no scope to set up
  }
  /// A backend call of a request: what is left of the request's budget bounds it, and its
  /// duration is charged to the request.
  template <class Fn>
  decltype(auto) call(std::string_view operation, const Request& req, Fn&& fn) {
    if (req.deadline.count() <= 0) return counted(operation, fn);
    const auto start = std::chrono::steady_clock::now();
    struct Charge {
      const Request& req;
      std::chrono::steady_clock::time_point start;
      ~Charge() { req.spent += std::chrono::steady_clock::now() - start; }
    } charge{req, start};
    DeadlineScope scope(start + (req.deadline - req.spent));
    return counted(operation, fn);
  }
  template <class Fn>
  TTLCACHE_HOT decltype(auto) call(std::string_view operation, Fn&& fn) {
    return call(operation, options_.call_deadline, std::forward<Fn>(fn));
  }

 private:
  template <class Fn>
  TTLCACHE_HOT decltype(auto) counted(std::string_view operation, Fn& fn) {
    if (!stats_) return fn();
    try {
      BackendTimer timer(time_backend_ ? stats_.get() : nullptr);
      return fn();
    } catch (const backend_error&) {
      stats_->record_backend_error(backend_->name(), operation, std::current_exception());
      throw;
    }
  }

  void init_loading() {
    timed_ = dynamic_cast<TimedCapable<K, V>*>(backend_.get());
    memory_ = dynamic_cast<MemoryBackend<K, V>*>(backend_.get());
    bg_ = std::make_shared<LoadShared<K, V>>();
    bg_->backend = backend_;
    bg_->timed = timed_;
    bg_->tags = dynamic_cast<TagCapable<K, V>*>(backend_.get());
    bg_->stats = stats_;
    const LoadOptions& lo = options_.loading;
    bg_->fail_safe_ttl = lo.fail_safe_ttl;
    if ((lo.early_refresh || lo.refresh_ahead_at > 0 || lo.fail_safe ||
         lo.stale_while_revalidate.count() > 0) &&
        !timed_) {
      throw argument_error(who() +
                           "early_refresh, refresh_ahead_at, stale_while_revalidate and fail_safe "
                           "need a backend that keeps entry times (CacheBuilder's fail_safe() "
                           "and refresh options build one); the '" +
                           std::string(backend_->name()) + "' backend given is not one");
    }
    if (!(lo.early_refresh_beta > 0))
      throw argument_error(who() + "early_refresh_beta must be > 0");
    if (!(lo.refresh_ahead_at >= 0 && lo.refresh_ahead_at < 1)) {
      throw argument_error(who() + "refresh_ahead_at must be in [0, 1)");
    }
    if (lo.fail_safe_ttl.count() <= 0) throw argument_error(who() + "fail_safe_ttl must be > 0");
    if (lo.stale_while_revalidate.count() < 0) {
      throw argument_error(who() + "stale_while_revalidate must not be negative");
    }
    check_timeouts(lo.soft_timeout, lo.hard_timeout);
    if (lo.lock_lease.count() <= 0 || lo.lock_poll.count() <= 0 || lo.lock_wait.count() < 0) {
      throw argument_error(who() + "lock_lease and lock_poll must be > 0, lock_wait >= 0");
    }
    if (lo.background_threads == 0) throw argument_error(who() + "background_threads must be > 0");
  }

  [[noreturn]] void no_policy() const {
    throw argument_error(who() + "a content type was given but the cache has no TTL policy");
  }

  void init_stats() {
    source_ = dynamic_cast<const StatsSource*>(backend_.get());
    if (!options_.stats.enabled) return;
    stats_ = std::make_shared<StatsRecorder>(options_.name, options_.stats, options_.listeners);
    BackendStats b;
    if (source_) source_->collect_stats(b);
    switch (options_.stats.time_backend_calls) {
      case BackendTiming::always:
        time_backend_ = true;
        break;
      case BackendTiming::never:
        time_backend_ = false;
        break;
      case BackendTiming::automatic:
        time_backend_ = !b.in_process;
        break;
    }
  }

  std::shared_ptr<backend_type> backend_;
  CacheOptions options_;
  SingleFlight<K, LoadResult<V>> flights_;
  // Statistics (null when off); source_ is the backend's StatsSource side, if it has one.
  std::shared_ptr<StatsRecorder> stats_;
  const StatsSource* source_ = nullptr;
  bool time_backend_ = false;
  // Loading: the backend's entry-time side (null unless fail-safe capable), the state shared
  // with background loads, and the engine's own workers (last: joined first on destruction).
  TimedCapable<K, V>* timed_ = nullptr;
  MemoryBackend<K, V>* memory_ = nullptr;  // owned by backend; null unless a plain MemoryBackend
  std::shared_ptr<LoadShared<K, V>> bg_;
  TagTypeIndex tag_types_;  // content types by tag, for adaptive TTL (see remember_types)
  TtlGroupFn<K> group_fn_;  // key groups for adaptive TTL (CacheBuilder::ttl_group); may be empty
  std::once_flag pool_once_;
  std::unique_ptr<WorkerPool> pool_;
};

}  // namespace ttlcache::detail

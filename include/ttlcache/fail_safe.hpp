// Fail-safe storage: entries kept past their TTL (as stale copies) together with what early
// refresh needs, so Cache can serve a stale value when a load fails.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ttlcache/backend.hpp"
#include "ttlcache/backend_stats.hpp"
#include "ttlcache/clock.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/tags.hpp"

namespace ttlcache {

/// The envelope a fail-safe backend stores. Times are unix milliseconds (wall clock) so that
/// instances sharing Redis agree on them.
template <class V>
struct Timed {
  V value;
  std::int64_t written_ms = 0;      ///< when it was stored (start of its TTL)
  std::int64_t fresh_until_ms = 0;  ///< a hit before this; only fail-safe may use it after
  std::int64_t stale_until_ms = 0;  ///< never served after this (fresh_until + max_stale)
  std::uint32_t load_us = 0;        ///< how long the load that produced it took (XFetch's delta)
  bool fail_safe = false;           ///< a stale value re-stored after a failed load
};

/// Settings of a FailSafeBackend.
struct FailSafeOptions {
  /// How long past its TTL an entry is kept as a stale copy for fail-safe. The stale copies
  /// occupy the backend like live entries (memory, capacity, Redis keys).
  std::chrono::milliseconds max_stale = std::chrono::hours(1);
  /// Source of wall time; null means the system clock.
  std::shared_ptr<const Clock> clock;
};

/// What Cache's loading features (fail-safe, early refresh, refresh-ahead) need from a backend:
/// entries with their times, stale ones included. Found by dynamic_cast at Cache construction.
template <class K, class V>
class TimedCapable {
 public:
  virtual ~TimedCapable() = default;
  /// The entry, fresh or stale (until its stale_until_ms), or nullopt.
  virtual std::optional<Timed<V>> get_timed(const K& key) = 0;
  virtual std::vector<std::optional<Timed<V>>> get_many_timed(const std::vector<K>& keys) = 0;
  /// Stores entry; it lives until entry.stale_until_ms (argument_error if that is not later
  /// than now).
  virtual void set_timed(const K& key, Timed<V> entry) = 0;
  virtual void set_many_timed(std::vector<std::pair<K, Timed<V>>> entries) = 0;
  /// set_timed carrying tag stamps (from TagCapable::stamps_for); argument_error when the
  /// backend under the fail-safe layer is not tag-aware.
  virtual void set_timed_stamped(const K& key, Timed<V> entry, std::vector<Stamp> stamps) = 0;
  /// A batch of set_timed_stamped under the same stamps; the default writes one by one.
  virtual void set_many_timed_stamped(std::vector<std::pair<K, Timed<V>>> entries,
                                      const std::vector<Stamp>& stamps) {
    for (auto& e : entries) set_timed_stamped(e.first, std::move(e.second), stamps);
  }
  /// An entry for value written now with ttl: fresh for ttl, then stale for max_stale.
  virtual Timed<V> make_entry(V value, std::chrono::milliseconds ttl,
                              std::uint32_t load_us) const = 0;
  /// Wall time as the backend sees it (its clock), in microseconds and in milliseconds.
  virtual std::int64_t now_us() const noexcept = 0;
  virtual std::int64_t now_ms() const noexcept = 0;
};

/// A Backend<K,V> over a Backend<K, Timed<V>>: plain reads see only fresh entries, exactly as
/// the inner backend would without fail-safe; Cache's loaders also see the stale copies kept
/// for max_stale after expiry. erase() removes the stale copy too (an invalidated value is
/// never served as fail-safe). Tag operations are forwarded when the inner backend is
/// tag-aware (e.g. make_tagged_memory_backend<K, Timed<V>>).
template <class K, class V>
class FailSafeBackend final : public Backend<K, V>,
                              public TimedCapable<K, V>,
                              public TagCapable<K, V>,
                              public StatsSource {
 public:
  using inner_type = Backend<K, Timed<V>>;

  explicit FailSafeBackend(std::shared_ptr<inner_type> inner, FailSafeOptions options = {})
      : inner_(std::move(inner)), options_(std::move(options)) {
    if (!inner_) throw argument_error("ttlcache: FailSafeBackend needs a backend");
    if (options_.max_stale.count() < 0) {
      throw argument_error("ttlcache " + std::string(inner_->name()) +
                           " backend: FailSafeOptions::max_stale must not be negative");
    }
    tags_ = dynamic_cast<TagCapable<K, Timed<V>>*>(inner_.get());
  }

  std::string_view name() const noexcept override { return inner_->name(); }

  std::optional<V> get(const K& key) override {
    auto t = inner_->get(key);
    if (!t || now_ms() >= t->fresh_until_ms) return std::nullopt;
    return std::move(t->value);
  }
  void set(const K& key, V value, std::chrono::milliseconds ttl) override {
    check_ttl(ttl);
    inner_->set(key, make_entry(std::move(value), ttl, 0), physical(ttl));
  }
  /// Removes the entry and its stale copy; true only if a live (fresh) entry was removed, as the
  /// Backend contract says (a stale copy is not an entry a reader could have seen).
  bool erase(const K& key) override {
    const bool live = contains(key);
    return inner_->erase(key) && live;
  }
  bool contains(const K& key) override { return get(key).has_value(); }
  std::optional<std::chrono::milliseconds> ttl(const K& key) override {
    auto t = inner_->get(key);
    const std::int64_t now = now_ms();
    if (!t || now >= t->fresh_until_ms) return std::nullopt;
    return std::chrono::milliseconds(t->fresh_until_ms - now);
  }
  std::vector<std::optional<V>> get_many(const std::vector<K>& keys) override {
    auto timed = inner_->get_many(keys);
    const std::int64_t now = now_ms();
    std::vector<std::optional<V>> out(timed.size());
    for (std::size_t i = 0; i < timed.size(); ++i) {
      if (timed[i] && now < timed[i]->fresh_until_ms) out[i] = std::move(timed[i]->value);
    }
    return out;
  }
  void set_many(std::vector<Write<K, V>> items) override {
    std::vector<Write<K, Timed<V>>> writes;
    writes.reserve(items.size());
    for (auto& item : items) {
      check_ttl(item.ttl);
      writes.push_back({std::move(item.key), make_entry(std::move(item.value), item.ttl, 0),
                        physical(item.ttl)});
    }
    inner_->set_many(std::move(writes));
  }
  void clear() override { inner_->clear(); }
  std::size_t size() override { return inner_->size(); }

  // ---- TimedCapable ----

  std::optional<Timed<V>> get_timed(const K& key) override {
    auto t = inner_->get(key);
    if (!t || now_ms() >= t->stale_until_ms) return std::nullopt;
    return t;
  }
  std::vector<std::optional<Timed<V>>> get_many_timed(const std::vector<K>& keys) override {
    auto out = inner_->get_many(keys);
    const std::int64_t now = now_ms();
    for (auto& t : out) {
      if (t && now >= t->stale_until_ms) t.reset();
    }
    return out;
  }
  void set_timed(const K& key, Timed<V> entry) override {
    const auto life = remaining(entry);
    inner_->set(key, std::move(entry), life);
  }
  void set_many_timed(std::vector<std::pair<K, Timed<V>>> entries) override {
    std::vector<Write<K, Timed<V>>> writes;
    writes.reserve(entries.size());
    for (auto& e : entries) {
      const auto life = remaining(e.second);
      writes.push_back({std::move(e.first), std::move(e.second), life});
    }
    inner_->set_many(std::move(writes));
  }
  void set_timed_stamped(const K& key, Timed<V> entry, std::vector<Stamp> stamps) override {
    const auto life = remaining(entry);
    tag_inner().set_stamped(key, std::move(entry), life, std::move(stamps));
  }
  void set_many_timed_stamped(std::vector<std::pair<K, Timed<V>>> entries,
                              const std::vector<Stamp>& stamps) override {
    std::vector<Write<K, Timed<V>>> writes;
    writes.reserve(entries.size());
    for (auto& e : entries) {
      const auto life = remaining(e.second);
      writes.push_back({std::move(e.first), std::move(e.second), life});
    }
    tag_inner().set_many_stamped(std::move(writes), stamps);
  }
  Timed<V> make_entry(V value, std::chrono::milliseconds ttl,
                      std::uint32_t load_us) const override {
    const std::int64_t now = now_ms();
    Timed<V> t;
    t.value = std::move(value);
    t.written_ms = now;
    t.fresh_until_ms = now + ttl.count();
    t.stale_until_ms = t.fresh_until_ms + options_.max_stale.count();
    t.load_us = load_us;
    return t;
  }
  std::int64_t now_us() const noexcept override {
    const auto t = options_.clock ? options_.clock->wall_now() : std::chrono::system_clock::now();
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  }
  std::int64_t now_ms() const noexcept override { return now_us() / 1000; }

  // ---- TagCapable (forwarded) ----

  std::vector<Stamp> stamps_for(const Tags& tags, std::chrono::milliseconds ttl) override {
    return tag_inner().stamps_for(tags, ttl);
  }
  void set_stamped(const K& key, V value, std::chrono::milliseconds ttl,
                   std::vector<Stamp> stamps) override {
    check_ttl(ttl);
    tag_inner().set_stamped(key, make_entry(std::move(value), ttl, 0), physical(ttl),
                            std::move(stamps));
  }
  void invalidate_tags(const std::vector<std::string>& tags) override {
    tag_inner().invalidate_tags(tags);
  }
  std::uint64_t bump_version(std::string_view entity_type) override {
    return tag_inner().bump_version(entity_type);
  }
  std::uint64_t version(std::string_view entity_type) override {
    return tag_inner().version(entity_type);
  }
  std::size_t invalidate_matching(std::string_view literal_prefix) override {
    return tag_inner().invalidate_matching(literal_prefix);
  }
  std::size_t invalidate_pattern(const KeyPattern& pattern) override {
    return tag_inner().invalidate_pattern(pattern);
  }

  // ---- StatsSource ----

  void collect_stats(BackendStats& out) const noexcept override {
    if (const auto* source = dynamic_cast<const StatsSource*>(inner_.get())) {
      source->collect_stats(out);
    }
  }

  const FailSafeOptions& options() const noexcept { return options_; }
  inner_type& inner() noexcept { return *inner_; }

 private:
  void check_ttl(std::chrono::milliseconds ttl) const {
    if (ttl.count() <= 0) {
      detail::throw_bad_ttl(inner_->name(), static_cast<long long>(ttl.count()));
    }
  }
  std::chrono::milliseconds physical(std::chrono::milliseconds ttl) const {
    return ttl + options_.max_stale;
  }
  std::chrono::milliseconds remaining(const Timed<V>& entry) const {
    const std::int64_t life = entry.stale_until_ms - now_ms();
    if (life <= 0) detail::throw_bad_ttl(inner_->name(), static_cast<long long>(life));
    return std::chrono::milliseconds(life);
  }
  TagCapable<K, Timed<V>>& tag_inner() {
    if (!tags_) {
      throw argument_error("ttlcache " + std::string(inner_->name()) +
                           " backend: tag operations need a tag-aware backend under the "
                           "fail-safe layer (e.g. make_tagged_memory_backend<K, Timed<V>>)");
    }
    return *tags_;
  }

  std::shared_ptr<inner_type> inner_;
  FailSafeOptions options_;
  TagCapable<K, Timed<V>>* tags_ = nullptr;
};

}  // namespace ttlcache

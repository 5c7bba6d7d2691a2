// Tags and entity versions: entries stamped with tag versions, invalidated in O(1) by a bump.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ttlcache/backend.hpp"
#include "ttlcache/backend_stats.hpp"
#include "ttlcache/clock.hpp"
#include "ttlcache/detail/hash.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/key_pattern.hpp"

namespace ttlcache {

/// What an entry depends on: tags (e.g. "user:42", "files") and entity types whose version
/// (bump_version) it was computed under. Built from a brace list of tags:
/// `cache.set(key, value, 5min, {"user:42", "files"})`, or
/// `Tags{"user:42"}.entity("file")`.
class Tags {
 public:
  Tags() = default;
  Tags(std::initializer_list<std::string> tags) : tags_(tags) {}
  explicit Tags(std::vector<std::string> tags) : tags_(std::move(tags)) {}

  /// Adds a tag.
  Tags& tag(std::string name) {
    tags_.push_back(std::move(name));
    return *this;
  }
  /// Adds a dependency on the current version of an entity type.
  Tags& entity(std::string type) {
    entity_types_.push_back(std::move(type));
    return *this;
  }

  const std::vector<std::string>& tags() const noexcept { return tags_; }
  const std::vector<std::string>& entity_types() const noexcept { return entity_types_; }
  bool empty() const noexcept { return tags_.empty() && entity_types_.empty(); }

  /// The metadata names behind this set ("t:<tag>", "e:<entity type>"), sorted, without
  /// duplicates. Throws argument_error for an empty tag or entity type.
  std::vector<std::string> stamp_names() const;

 private:
  std::vector<std::string> tags_;
  std::vector<std::string> entity_types_;
};

namespace detail {
inline std::string tag_stamp(std::string_view tag) {
  if (tag.empty()) throw argument_error("ttlcache: a tag must not be empty");
  std::string out = "t:";
  out.append(tag);
  return out;
}
inline std::string entity_stamp(std::string_view type) {
  if (type.empty()) throw argument_error("ttlcache: an entity type must not be empty");
  std::string out = "e:";
  out.append(type);
  return out;
}

/// A fresh, non-zero, random 64-bit version. Versions are random rather than counted so that a
/// tag whose metadata was lost (evicted, expired, FLUSHDB) and is then created again can never
/// come back to a version an old entry carries (a collision needs 2^-64 luck).
inline std::uint64_t random_version() {
  thread_local std::mt19937_64 rng([] {
    std::random_device device;
    const std::uint64_t seed =
        (static_cast<std::uint64_t>(device()) << 32) ^ device() ^
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
        std::hash<std::thread::id>{}(std::this_thread::get_id());
    return seed;
  }());
  std::uint64_t v = 0;
  while (v == 0) v = rng();
  return v;
}

inline std::int64_t wall_ms(const std::shared_ptr<const Clock>& clock) {
  const auto t = clock ? clock->wall_now() : std::chrono::system_clock::now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
}  // namespace detail

inline std::vector<std::string> Tags::stamp_names() const {
  std::vector<std::string> names;
  names.reserve(tags_.size() + entity_types_.size());
  for (const auto& t : tags_) names.push_back(detail::tag_stamp(t));
  for (const auto& e : entity_types_) names.push_back(detail::entity_stamp(e));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

/// One tag or entity version an entry was written under.
struct Stamp {
  std::string name;
  std::uint64_t version = 0;
  friend bool operator==(const Stamp& a, const Stamp& b) {
    return a.name == b.name && a.version == b.version;
  }
};

/// The envelope a tag-aware backend stores: the value, the versions it was written under, and
/// its wall-clock expiry (so a tiered cache can fill its L1 with the remaining TTL without
/// asking L2 again).
template <class V>
struct Tagged {
  V value;
  std::vector<Stamp> stamps;
  std::int64_t expires_at_ms = 0;  ///< unix ms; 0 when unknown
};

/// Where tag and entity versions live: in-process (MemoryStampStore) or in Redis
/// (redis::RedisStore), so that every instance sharing the store sees one truth.
///
/// Contract: versions are opaque non-zero numbers. A name the store does not know (never
/// written, expired, evicted, flushed) reads as nullopt, and entries depending on it are
/// misses: losing metadata can cost hits, never serve stale data. Every stored name has a TTL,
/// so metadata does not grow without bound. Every member is thread-safe.
class StampStore {
 public:
  virtual ~StampStore() = default;
  virtual std::string_view name() const noexcept = 0;
  /// Current versions, in the order of names; nullopt for unknown names.
  virtual std::vector<std::optional<std::uint64_t>> read_stamps(
      const std::vector<std::string>& names) = 0;
  /// For a write: the current versions, creating a fresh random version for unknown names, and
  /// keeping each name alive for at least keep_alive.
  virtual std::vector<std::uint64_t> acquire_stamps(const std::vector<std::string>& names,
                                                    std::chrono::milliseconds keep_alive) = 0;
  /// Invalidates: gives each name a new random version (kept for keep_alive) and returns them.
  /// O(1) per name, whatever the number of entries carrying it.
  virtual std::vector<std::uint64_t> bump_stamps(const std::vector<std::string>& names,
                                                 std::chrono::milliseconds keep_alive) = 0;
};

/// The tag operations a backend offers to Cache (TaggedBackend implements them). Cache finds
/// them with a dynamic_cast of its backend; users call them through Cache.
template <class K, class V>
class TagCapable {
 public:
  virtual ~TagCapable() = default;
  /// The current versions of tags, to be read *before* the value is computed: a value loaded
  /// while a tag is invalidated is then stored under the old version and reads as a miss.
  virtual std::vector<Stamp> stamps_for(const Tags& tags, std::chrono::milliseconds ttl) = 0;
  /// Stores value with the given stamps.
  virtual void set_stamped(const K& key, V value, std::chrono::milliseconds ttl,
                           std::vector<Stamp> stamps) = 0;
  /// Stores a batch under the same stamps (tagged batch loads and warming). The default writes
  /// one by one; TaggedBackend writes one batch.
  virtual void set_many_stamped(std::vector<Write<K, V>> items, const std::vector<Stamp>& stamps) {
    for (auto& item : items) set_stamped(item.key, std::move(item.value), item.ttl, stamps);
  }
  /// Every entry carrying any of the tags becomes a miss. O(1) per tag.
  virtual void invalidate_tags(const std::vector<std::string>& tags) = 0;
  /// Every entry written under the current version of entity_type becomes a miss; returns the
  /// new version.
  virtual std::uint64_t bump_version(std::string_view entity_type) = 0;
  /// The current version of entity_type (created when unknown), e.g. for versioned keys.
  virtual std::uint64_t version(std::string_view entity_type) = 0;
  /// Removes every entry whose encoded key starts with literal_prefix; returns how many.
  virtual std::size_t invalidate_matching(std::string_view literal_prefix) = 0;
  /// Removes every entry whose encoded key matches pattern; returns how many. Not pure, so
  /// implementers outside ttlcache keep compiling. @throws argument_error by default.
  virtual std::size_t invalidate_pattern(const KeyPattern& pattern) {
    throw argument_error("ttlcache: this backend cannot remove keys by pattern (" +
                         pattern.to_string() + ")");
  }
};

/// Settings of a TaggedBackend.
struct TaggedOptions {
  /// Lifetime of tag/version metadata after its last write or bump (extended to an entry's TTL
  /// when an entry with a longer TTL uses it). Metadata that expires makes the entries carrying
  /// it misses, so this bounds metadata without ever serving stale data.
  std::chrono::milliseconds stamp_ttl = std::chrono::hours(24);
  /// Wall clock for the expiry hint stored in each envelope; null means system_clock.
  std::shared_ptr<const Clock> clock;
  /// Removes entries whose encoded key starts with a literal prefix (invalidate_matching);
  /// the factories fill it in. Without it invalidate_matching throws argument_error.
  std::function<std::size_t(std::string_view)> erase_prefix;
  /// Removes entries whose encoded key matches a KeyPattern (invalidate_pattern); the factories
  /// fill it in. Without it invalidate_pattern throws argument_error.
  std::function<std::size_t(const KeyPattern&)> erase_pattern;
};

/// A Backend<K,V> over a Backend<K, Tagged<V>> and a StampStore: every entry carries the
/// versions of its tags, checked against the store on every read. invalidate_tags() and
/// bump_version() write one version per name; entries are never scanned.
///
/// Reads: an entry whose stamps do not all match the current versions (or whose versions are
/// unknown) is a miss. Entries written without tags are never affected by any invalidation.
/// Thread-safety: every member may be called concurrently (if inner and stamps allow it, as
/// all shipped ones do). Exceptions: those of the inner backend and the stamp store, and
/// argument_error for empty tags.
template <class K, class V>
class TaggedBackend final : public Backend<K, V>, public TagCapable<K, V>, public StatsSource {
 public:
  using inner_type = Backend<K, Tagged<V>>;

  /// The wrapped backend's figures (size, weight, removals), as if Cache held it directly.
  void collect_stats(BackendStats& out) const noexcept override {
    if (const auto* source = dynamic_cast<const StatsSource*>(inner_.get())) {
      source->collect_stats(out);
    }
  }

  TaggedBackend(std::shared_ptr<inner_type> inner, std::shared_ptr<StampStore> stamps,
                TaggedOptions options = {})
      : inner_(std::move(inner)), stamps_(std::move(stamps)), options_(std::move(options)) {
    if (!inner_ || !stamps_)
      throw argument_error("ttlcache: TaggedBackend needs a backend and a stamp store");
    if (options_.stamp_ttl.count() <= 0) {
      throw argument_error("ttlcache: TaggedOptions::stamp_ttl must be positive");
    }
  }

  std::string_view name() const noexcept override { return inner_->name(); }

  std::optional<V> get(const K& key) override {
    auto tagged = inner_->get(key);
    if (!tagged) return std::nullopt;
    if (!tagged->stamps.empty() && !valid(tagged->stamps)) return std::nullopt;
    return std::move(tagged->value);
  }

  void set(const K& key, V value, std::chrono::milliseconds ttl) override {
    set_stamped(key, std::move(value), ttl, {});
  }

  bool erase(const K& key) override { return inner_->erase(key); }
  bool contains(const K& key) override { return get(key).has_value(); }
  std::optional<std::chrono::milliseconds> ttl(const K& key) override {
    if (!contains(key)) return std::nullopt;
    return inner_->ttl(key);
  }

  std::vector<std::optional<V>> get_many(const std::vector<K>& keys) override {
    auto tagged = inner_->get_many(keys);
    // One stamp read for the whole batch (one MGET on Redis).
    std::vector<std::string> names;
    for (const auto& t : tagged) {
      if (!t) continue;
      for (const auto& s : t->stamps) names.push_back(s.name);
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    std::vector<std::optional<std::uint64_t>> current;
    if (!names.empty()) current = stamps_->read_stamps(names);
    std::vector<std::optional<V>> out(tagged.size());
    for (std::size_t i = 0; i < tagged.size(); ++i) {
      if (!tagged[i]) continue;
      bool ok = true;
      for (const auto& s : tagged[i]->stamps) {
        const auto at = std::lower_bound(names.begin(), names.end(), s.name) - names.begin();
        const auto& now = current[static_cast<std::size_t>(at)];
        if (!now || *now != s.version) {
          ok = false;
          break;
        }
      }
      if (ok) out[i] = std::move(tagged[i]->value);
    }
    return out;
  }

  void set_many(std::vector<Write<K, V>> items) override {
    std::vector<Write<K, Tagged<V>>> writes;
    writes.reserve(items.size());
    const std::int64_t now = detail::wall_ms(options_.clock);
    for (auto& item : items) {
      writes.push_back({std::move(item.key),
                        Tagged<V>{std::move(item.value), {}, now + item.ttl.count()}, item.ttl});
    }
    inner_->set_many(std::move(writes));
  }

  void clear() override { inner_->clear(); }
  std::size_t size() override { return inner_->size(); }

  // ---- TagCapable ----

  std::vector<Stamp> stamps_for(const Tags& tags, std::chrono::milliseconds ttl) override {
    std::vector<std::string> names = tags.stamp_names();
    if (names.empty()) return {};
    const auto versions = stamps_->acquire_stamps(names, std::max(options_.stamp_ttl, ttl));
    std::vector<Stamp> out;
    out.reserve(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      out.push_back(Stamp{std::move(names[i]), versions[i]});
    }
    return out;
  }

  void set_stamped(const K& key, V value, std::chrono::milliseconds ttl,
                   std::vector<Stamp> stamps) override {
    const std::int64_t expiry = detail::wall_ms(options_.clock) + ttl.count();
    inner_->set(key, Tagged<V>{std::move(value), std::move(stamps), expiry}, ttl);
  }

  void set_many_stamped(std::vector<Write<K, V>> items, const std::vector<Stamp>& stamps) override {
    std::vector<Write<K, Tagged<V>>> writes;
    writes.reserve(items.size());
    const std::int64_t now = detail::wall_ms(options_.clock);
    for (auto& item : items) {
      writes.push_back({std::move(item.key),
                        Tagged<V>{std::move(item.value), stamps, now + item.ttl.count()},
                        item.ttl});
    }
    inner_->set_many(std::move(writes));
  }

  void invalidate_tags(const std::vector<std::string>& tags) override {
    if (tags.empty()) return;
    std::vector<std::string> names;
    names.reserve(tags.size());
    for (const auto& t : tags) names.push_back(detail::tag_stamp(t));
    stamps_->bump_stamps(names, options_.stamp_ttl);
  }

  std::uint64_t bump_version(std::string_view entity_type) override {
    return stamps_->bump_stamps({detail::entity_stamp(entity_type)}, options_.stamp_ttl).at(0);
  }

  std::uint64_t version(std::string_view entity_type) override {
    return stamps_->acquire_stamps({detail::entity_stamp(entity_type)}, options_.stamp_ttl).at(0);
  }

  std::size_t invalidate_matching(std::string_view literal_prefix) override {
    if (!options_.erase_prefix) {
      throw argument_error("ttlcache " + std::string(inner_->name()) +
                           " backend: invalidate_matching needs TaggedOptions::erase_prefix "
                           "(use a make_tagged_* factory)");
    }
    return options_.erase_prefix(literal_prefix);
  }

  std::size_t invalidate_pattern(const KeyPattern& pattern) override {
    if (!options_.erase_pattern) {
      throw argument_error("ttlcache " + std::string(inner_->name()) +
                           " backend: invalidate_pattern needs TaggedOptions::erase_pattern "
                           "(use a make_tagged_* factory)");
    }
    return options_.erase_pattern(pattern);
  }

  inner_type& inner() noexcept { return *inner_; }
  StampStore& stamps() noexcept { return *stamps_; }

 private:
  bool valid(const std::vector<Stamp>& stamps) {
    std::vector<std::string> names;
    names.reserve(stamps.size());
    for (const auto& s : stamps) names.push_back(s.name);
    const auto current = stamps_->read_stamps(names);
    for (std::size_t i = 0; i < stamps.size(); ++i) {
      if (!current[i] || *current[i] != stamps[i].version) return false;
    }
    return true;
  }

  std::shared_ptr<inner_type> inner_;
  std::shared_ptr<StampStore> stamps_;
  TaggedOptions options_;
};

namespace detail {
/// The tag operations of backend, or argument_error naming it when it has none.
template <class K, class V>
TagCapable<K, V>& tag_support(Backend<K, V>& backend) {
  auto* tags = dynamic_cast<TagCapable<K, V>*>(&backend);
  if (tags == nullptr) {
    throw argument_error("ttlcache " + std::string(backend.name()) +
                         " backend: tags, versions and invalidate_matching need a tag-aware "
                         "backend (make_tagged_memory_backend, redis::make_tagged_backend, "
                         "make_tiered_tagged)");
  }
  return *tags;
}
}  // namespace detail

}  // namespace ttlcache

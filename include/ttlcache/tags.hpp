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
#include "ttlcache/codec.hpp"
#include "ttlcache/detail/hash.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/key_pattern.hpp"
#include "ttlcache/memory_backend.hpp"

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

/// Codec of Tagged<V> for remote stores: a small binary header (magic, stamps, expiry) and the
/// payload from VC. Bytes it cannot read decode as nullopt (a miss), never an exception.
template <class V, class VC = ValueCodec<V>>
struct TaggedCodec {
  static constexpr std::array<char, 4> magic{'\xF6', 'T', 'G', '1'};

  static std::string encode(const Tagged<V>& tagged) {
    std::string out(magic.data(), magic.size());
    put64(out, static_cast<std::uint64_t>(tagged.expires_at_ms));
    put32(out, static_cast<std::uint32_t>(tagged.stamps.size()));
    for (const auto& s : tagged.stamps) {
      put32(out, static_cast<std::uint32_t>(s.name.size()));
      out += s.name;
      put64(out, s.version);
    }
    out += VC::encode(tagged.value);
    return out;
  }

  static std::optional<Tagged<V>> decode(std::string_view bytes) noexcept {
    try {
      if (bytes.size() < magic.size() + 12 ||
          bytes.substr(0, magic.size()) != std::string_view(magic.data(), magic.size())) {
        return std::nullopt;
      }
      std::size_t pos = magic.size();
      Tagged<V> out;
      std::uint64_t expiry = 0;
      std::uint32_t count = 0;
      if (!get64(bytes, pos, expiry) || !get32(bytes, pos, count)) return std::nullopt;
      out.expires_at_ms = static_cast<std::int64_t>(expiry);
      if (count > bytes.size()) return std::nullopt;  // each stamp takes at least 12 bytes
      out.stamps.reserve(count);
      for (std::uint32_t i = 0; i < count; ++i) {
        std::uint32_t length = 0;
        Stamp s;
        if (!get32(bytes, pos, length) || bytes.size() - pos < length) return std::nullopt;
        s.name.assign(bytes.substr(pos, length));
        pos += length;
        if (!get64(bytes, pos, s.version)) return std::nullopt;
        out.stamps.push_back(std::move(s));
      }
      std::optional<V> value = VC::decode(bytes.substr(pos));
      if (!value) return std::nullopt;
      out.value = std::move(*value);
      return out;
    } catch (...) {  // bad_alloc on a hostile count, or V's codec throwing: unreadable is a miss
      return std::nullopt;
    }
  }

 private:
  static void put32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  static void put64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  static bool get32(std::string_view in, std::size_t& pos, std::uint32_t& v) {
    if (in.size() - pos < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) {
      v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[pos + i])) << (8 * i);
    }
    pos += 4;
    return true;
  }
  static bool get64(std::string_view in, std::size_t& pos, std::uint64_t& v) {
    if (in.size() - pos < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) {
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[pos + i])) << (8 * i);
    }
    pos += 8;
    return true;
  }
};

template <class V>
struct ValueCodec<Tagged<V>> : TaggedCodec<V> {};

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

/// Settings of a MemoryStampStore.
struct MemoryStampOptions {
  /// Upper bound on names held. When full, expired names go first, then arbitrary ones (an
  /// evicted name only turns the entries that carry it into misses).
  std::size_t max_stamps = 1'000'000;
  /// Source of time; null means steady_clock.
  std::shared_ptr<const Clock> clock;
};

/// The in-process StampStore: 16 mutex-striped hash maps of name -> (version, expiry).
/// Thread-safe; read and write cost one stripe lock per name.
class MemoryStampStore final : public StampStore {
 public:
  explicit MemoryStampStore(MemoryStampOptions options = {})
      : clock_(std::move(options.clock)),
        per_stripe_(std::max<std::size_t>(1, options.max_stamps / stripe_count)) {}

  std::string_view name() const noexcept override { return "memory"; }

  std::vector<std::optional<std::uint64_t>> read_stamps(
      const std::vector<std::string>& names) override {
    std::vector<std::optional<std::uint64_t>> out(names.size());
    const std::int64_t now = now_ns();
    for (std::size_t i = 0; i < names.size(); ++i) {
      Stripe& s = stripe(names[i]);
      std::lock_guard<std::mutex> lock(s.mutex);
      auto it = s.map.find(names[i]);
      if (it == s.map.end()) continue;
      if (it->second.expires_ns <= now) {
        s.map.erase(it);
        continue;
      }
      out[i] = it->second.version;
    }
    return out;
  }

  std::vector<std::uint64_t> acquire_stamps(const std::vector<std::string>& names,
                                            std::chrono::milliseconds keep_alive) override {
    std::vector<std::uint64_t> out(names.size());
    const std::int64_t now = now_ns();
    const std::int64_t until = now + keep_alive.count() * 1'000'000;
    for (std::size_t i = 0; i < names.size(); ++i) {
      Stripe& s = stripe(names[i]);
      std::lock_guard<std::mutex> lock(s.mutex);
      auto it = s.map.find(names[i]);
      if (it != s.map.end() && it->second.expires_ns > now) {
        it->second.expires_ns = std::max(it->second.expires_ns, until);
        out[i] = it->second.version;
        continue;
      }
      out[i] = put(s, names[i], now, until);
    }
    return out;
  }

  std::vector<std::uint64_t> bump_stamps(const std::vector<std::string>& names,
                                         std::chrono::milliseconds keep_alive) override {
    std::vector<std::uint64_t> out(names.size());
    const std::int64_t now = now_ns();
    const std::int64_t until = now + keep_alive.count() * 1'000'000;
    for (std::size_t i = 0; i < names.size(); ++i) {
      Stripe& s = stripe(names[i]);
      std::lock_guard<std::mutex> lock(s.mutex);
      out[i] = put(s, names[i], now, until);
    }
    return out;
  }

  /// Names held (expired ones not yet dropped included).
  std::size_t size() const {
    std::size_t total = 0;
    for (const auto& s : stripes_) {
      std::lock_guard<std::mutex> lock(s.mutex);
      total += s.map.size();
    }
    return total;
  }
  /// Forgets every name (as a Redis FLUSHDB would): entries carrying any become misses.
  void clear() {
    for (auto& s : stripes_) {
      std::lock_guard<std::mutex> lock(s.mutex);
      s.map.clear();
    }
  }

 private:
  static constexpr std::size_t stripe_count = 16;
  struct Entry {
    std::uint64_t version;
    std::int64_t expires_ns;
  };
  struct Stripe {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Entry> map;
  };

  Stripe& stripe(const std::string& name) {
    return stripes_[detail::mix_hash(std::hash<std::string>{}(name)) % stripe_count];
  }

  std::uint64_t put(Stripe& s, const std::string& name, std::int64_t now, std::int64_t until) {
    if (s.map.size() >= per_stripe_ && s.map.find(name) == s.map.end()) make_room(s, now);
    const std::uint64_t version = detail::random_version();
    s.map[name] = Entry{version, until};
    return version;
  }

  // Amortised O(1): one pass drops the expired names and, if that was not enough, an eighth
  // of the rest, so the next per_stripe_/8 inserts need no pass.
  void make_room(Stripe& s, std::int64_t now) const {
    for (auto it = s.map.begin(); it != s.map.end();) {
      it = it->second.expires_ns <= now ? s.map.erase(it) : std::next(it);
    }
    if (s.map.size() < per_stripe_) return;
    std::size_t drop = std::max<std::size_t>(1, per_stripe_ / 8);
    for (auto it = s.map.begin(); it != s.map.end() && drop > 0; --drop) it = s.map.erase(it);
  }

  std::int64_t now_ns() const noexcept {
    const auto t = clock_ ? clock_->now() : std::chrono::steady_clock::now();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }

  std::shared_ptr<const Clock> clock_;
  std::size_t per_stripe_;
  std::array<Stripe, stripe_count> stripes_;
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

namespace detail {

/// An ordered index of a memory backend's keys (encoded with KeyCodec), so that entries can
/// be removed by key prefix: the in-process equivalent of Redis's SCAN MATCH. 16 stripes, each
/// a std::map under its own mutex.
template <class K>
class KeyIndex {
 public:
  void insert(const K& key) {
    std::string encoded = KeyCodec<K>::encode(key);
    Stripe& s = stripe(encoded);
    std::lock_guard<std::mutex> lock(s.mutex);
    s.keys.emplace(std::move(encoded), key);
  }
  /// Drops key unless still_there() says the backend holds it again. Checked under the stripe
  /// lock: a concurrent set() inserts after its backend write, so it either happened before the
  /// check (and is seen) or re-inserts after this erase.
  template <class StillThere>
  void erase_unless(const K& key, StillThere&& still_there) {
    std::string encoded = KeyCodec<K>::encode(key);
    Stripe& s = stripe(encoded);
    std::lock_guard<std::mutex> lock(s.mutex);
    if (!still_there(key)) s.keys.erase(encoded);
  }
  /// Removes and returns every key whose encoding starts with prefix.
  std::vector<K> take_prefix(std::string_view prefix) {
    std::vector<K> out;
    for (auto& s : stripes_) {
      std::lock_guard<std::mutex> lock(s.mutex);
      auto it = s.keys.lower_bound(prefix);
      while (it != s.keys.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix) {
        out.push_back(it->second);
        it = s.keys.erase(it);
      }
    }
    return out;
  }
  /// Removes and returns every key whose encoding matches pattern; only the range sharing
  /// the pattern's literal prefix is visited.
  std::vector<K> take_matching(const KeyPattern& pattern) {
    const std::string_view prefix = pattern.literal_prefix();
    std::vector<K> out;
    for (auto& s : stripes_) {
      std::lock_guard<std::mutex> lock(s.mutex);
      auto it = s.keys.lower_bound(prefix);
      while (it != s.keys.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix) {
        if (!pattern.matches(it->first)) {
          ++it;
          continue;
        }
        out.push_back(it->second);
        it = s.keys.erase(it);
      }
    }
    return out;
  }
  std::size_t size() const {
    std::size_t n = 0;
    for (const auto& s : stripes_) {
      std::lock_guard<std::mutex> lock(s.mutex);
      n += s.keys.size();
    }
    return n;
  }

 private:
  struct Stripe {
    mutable std::mutex mutex;
    std::map<std::string, K, std::less<>> keys;
  };
  Stripe& stripe(const std::string& encoded) {
    return stripes_[mix_hash(std::hash<std::string>{}(encoded)) % stripes_.size()];
  }
  std::array<Stripe, 16> stripes_;
};

/// A MemoryBackend whose keys are indexed for prefix removal (removal listener keeps the index
/// in step). The user's own listener, if any, is still called.
template <class K, class V>
struct IndexedMemory {
  std::shared_ptr<MemoryBackend<K, V>> backend;
  std::shared_ptr<KeyIndex<K>> index;
};

template <class K, class V>
IndexedMemory<K, V> make_indexed_memory(MemoryOptions<K, V> options) {
  auto index = std::make_shared<KeyIndex<K>>();
  auto user_listener = std::move(options.removal_listener);
  // The listener needs the backend it belongs to, which does not exist yet: a weak slot.
  auto self = std::make_shared<std::weak_ptr<MemoryBackend<K, V>>>();
  options.removal_listener = [index, self, user_listener](const K& key, const V& value,
                                                          RemovalCause cause) {
    if (cause != RemovalCause::replaced) {
      if (auto backend = self->lock()) {
        index->erase_unless(key, [&](const K& k) { return backend->contains(k); });
      }
    }
    if (user_listener) user_listener(key, value, cause);
  };
  auto backend = std::make_shared<MemoryBackend<K, V>>(std::move(options));
  *self = backend;
  return {std::move(backend), std::move(index)};
}

/// A Backend over a MemoryBackend that records every written key in a KeyIndex.
template <class K, class V>
class IndexedMemoryBackend final : public Backend<K, V>, public StatsSource {
 public:
  explicit IndexedMemoryBackend(MemoryOptions<K, V> options) {
    auto parts = make_indexed_memory(std::move(options));
    memory_ = std::move(parts.backend);
    index_ = std::move(parts.index);
  }

  void collect_stats(BackendStats& out) const noexcept override { memory_->collect_stats(out); }
  std::string_view name() const noexcept override { return memory_->name(); }
  std::optional<V> get(const K& key) override { return memory_->get(key); }
  void set(const K& key, V value, std::chrono::milliseconds ttl) override {
    memory_->set(key, std::move(value), ttl);
    index_->insert(key);  // after the write: see KeyIndex::erase_unless
  }
  bool erase(const K& key) override { return memory_->erase(key); }
  bool contains(const K& key) override { return memory_->contains(key); }
  std::optional<std::chrono::milliseconds> ttl(const K& key) override { return memory_->ttl(key); }
  std::vector<std::optional<V>> get_many(const std::vector<K>& keys) override {
    return memory_->get_many(keys);
  }
  void clear() override { memory_->clear(); }
  std::size_t size() override { return memory_->size(); }

  /// Removes every entry whose encoded key starts with prefix; returns how many live ones.
  std::size_t erase_prefix(std::string_view prefix) {
    std::size_t removed = 0;
    for (const K& key : index_->take_prefix(prefix)) removed += memory_->erase(key) ? 1 : 0;
    return removed;
  }
  /// Removes every entry whose encoded key matches pattern; returns how many live ones.
  std::size_t erase_pattern(const KeyPattern& pattern) {
    std::size_t removed = 0;
    for (const K& key : index_->take_matching(pattern)) removed += memory_->erase(key) ? 1 : 0;
    return removed;
  }
  MemoryBackend<K, V>& memory() noexcept { return *memory_; }
  std::size_t indexed_keys() const { return index_->size(); }

 private:
  std::shared_ptr<MemoryBackend<K, V>> memory_;
  std::shared_ptr<KeyIndex<K>> index_;
};

}  // namespace detail

/// A tag-aware in-process backend: MemoryBackend<K, Tagged<V>> with a key index for
/// invalidate_matching, and a MemoryStampStore (pass one to share versions between backends).
/// Throws argument_error for bad options.
template <class K, class V>
std::shared_ptr<TaggedBackend<K, V>> make_tagged_memory_backend(
    MemoryOptions<K, Tagged<V>> memory = {}, TaggedOptions options = {},
    std::shared_ptr<StampStore> stamps = nullptr) {
  if (!stamps) {
    MemoryStampOptions stamp_options;
    stamp_options.clock = memory.clock;
    stamps = std::make_shared<MemoryStampStore>(stamp_options);
  }
  if (!options.clock) options.clock = memory.clock;
  auto inner = std::make_shared<detail::IndexedMemoryBackend<K, Tagged<V>>>(std::move(memory));
  if (!options.erase_prefix) {
    std::weak_ptr<detail::IndexedMemoryBackend<K, Tagged<V>>> weak = inner;
    options.erase_prefix = [weak](std::string_view prefix) -> std::size_t {
      auto backend = weak.lock();
      return backend ? backend->erase_prefix(prefix) : 0;
    };
  }
  if (!options.erase_pattern) {
    std::weak_ptr<detail::IndexedMemoryBackend<K, Tagged<V>>> weak = inner;
    options.erase_pattern = [weak](const KeyPattern& pattern) -> std::size_t {
      auto backend = weak.lock();
      return backend ? backend->erase_pattern(pattern) : 0;
    };
  }
  return std::make_shared<TaggedBackend<K, V>>(std::move(inner), std::move(stamps),
                                               std::move(options));
}

}  // namespace ttlcache

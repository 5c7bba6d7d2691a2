// The in-process storage of the tag and fail-safe layers: MemoryStampStore, the key index
// behind invalidate_matching, make_tagged_memory_backend and make_fail_safe_memory_backend.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ttlcache/backend.hpp"
#include "ttlcache/backend_stats.hpp"
#include "ttlcache/clock.hpp"
#include "ttlcache/codec.hpp"
#include "ttlcache/detail/hash.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/fail_safe.hpp"
#include "ttlcache/key_pattern.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/tags.hpp"

namespace ttlcache {

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

/// A fail-safe in-process backend. The memory clock also drives the fail-safe times when
/// options.clock is unset, so tests with a FakeClock move both.
template <class K, class V>
std::shared_ptr<FailSafeBackend<K, V>> make_fail_safe_memory_backend(
    MemoryOptions<K, Timed<V>> memory = {}, FailSafeOptions options = {}) {
  if (!options.clock) options.clock = memory.clock;
  auto inner = std::make_shared<MemoryBackend<K, Timed<V>>>(std::move(memory));
  return std::make_shared<FailSafeBackend<K, V>>(std::move(inner), std::move(options));
}

}  // namespace ttlcache

// TieredBackend: an in-process L1 in front of a shared L2 (Redis), kept coherent by a bus.
// It is over 600 lines because TieredBackend and TieredStampStore are one coherence protocol
// (generations, bus messages, resets) that must be read together.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
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
#include "ttlcache/errors.hpp"
#include "ttlcache/invalidation_bus.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/tags.hpp"

namespace ttlcache {

/// Settings of a TieredBackend (and of the TieredStampStore beside it).
struct TieredOptions {
  /// No L1 entry (and no locally cached tag version) lives longer than this, whatever its L2
  /// TTL: the staleness bound when invalidation messages are lost.
  std::chrono::milliseconds l1_max_ttl = std::chrono::seconds(5);
  /// Names this cache in bus messages; instances of one cache must agree (e.g. the Redis
  /// namespace).
  std::string scope = "default";
  /// While the bus reports it is not listening (healthy() false), read through to L2 and do not
  /// fill L1: invalidations sent meanwhile would be missed.
  bool bypass_l1_when_bus_down = true;
  /// When L2 fails (a backend_error, e.g. Redis down or its circuit breaker open): reads are
  /// answered from L1 if it holds the key (even while L1 is bypassed: a value at most
  /// l1_max_ttl old beats an error), and writes still update L1 (set) or evict from it (erase)
  /// before the error is rethrown. false: reads rethrow, failed writes evict the key from L1.
  bool serve_l1_when_l2_fails = true;
  /// Removes L2 entries by literal key prefix (invalidate_matching); e.g. RedisStore's
  /// erase_prefix. Without it erase_prefix() throws argument_error.
  std::function<std::size_t(std::string_view)> l2_erase_prefix;
  /// Removes L2 entries matching a KeyPattern (invalidate_pattern); e.g. RedisStore's
  /// erase_pattern. Without it erase_pattern() throws argument_error.
  std::function<std::size_t(const KeyPattern&)> l2_erase_pattern;
};

/// Counters of a TieredBackend. Monotonic.
struct TieredStats {
  std::uint64_t l1_hits = 0;
  std::uint64_t l1_misses = 0;  ///< reads that went to L2 (bypassed reads included)
  std::uint64_t l2_hits = 0;
  std::uint64_t l1_fills = 0;       ///< L2 hits copied into L1
  std::uint64_t fills_dropped = 0;  ///< fills undone because an invalidation raced them
  std::uint64_t invalidations_received = 0;
  std::uint64_t resets = 0;                ///< L1 cleared after a bus (re)subscription
  std::uint64_t l2_failures = 0;           ///< L2 calls that threw a backend_error
  std::uint64_t l1_served_on_failure = 0;  ///< reads answered by L1 because L2 failed
};

namespace detail {
/// The remaining lifetime an L2 value declares itself (Tagged<V> carries its expiry), so the
/// L1 fill needs no second round trip; other values ask L2.
template <class V>
std::optional<std::chrono::milliseconds> embedded_remaining(const V&, std::int64_t) {
  return std::nullopt;
}
template <class V>
std::optional<std::chrono::milliseconds> embedded_remaining(const Tagged<V>& v,
                                                            std::int64_t now_ms) {
  if (v.expires_at_ms == 0) return std::nullopt;
  // Compared before subtracting: an envelope from the wire may carry any expiry, and
  // INT64_MAX minus a negative time (or INT64_MIN minus a positive one) overflows.
  if (v.expires_at_ms <= now_ms) return std::chrono::milliseconds(0);
  if (now_ms < 0 && v.expires_at_ms > std::numeric_limits<std::int64_t>::max() + now_ms) {
    return std::chrono::milliseconds::max();
  }
  return std::chrono::milliseconds(v.expires_at_ms - now_ms);
}
}  // namespace detail

/// Two tiers behind one Backend: reads try L1 (in-process), then L2 (shared), filling L1 with
/// the remaining TTL capped by l1_max_ttl; writes go to L2 first, then L1, then a message on
/// the bus makes every other instance drop the key from its L1.
///
/// Coherence: a message evicts the key from L1; a fill that raced a message is undone (a
/// per-stripe generation counter is checked after the fill), so a value read from L2 before an
/// invalidation never settles in L1 after it. Own writes to one key are serialised per stripe
/// so L1 and L2 end with the same value. After the bus resubscribes, L1 is cleared.
/// Staleness bound: when messages are lost without the bus noticing, an L1 entry is still
/// dropped after l1_max_ttl.
///
/// L2 failures (TieredOptions::serve_l1_when_l2_fails): a read L2 cannot answer is answered by
/// L1 when L1 holds the key; a write L2 refuses still updates (set) or evicts (erase) L1, and
/// the error is then rethrown so that a layer above (ResilientBackend) can count it and repair
/// the key in L2 later. Wrap L2 in a ResilientBackend (propagate, with a breaker) to stop
/// calling a dead L2 at all.
///
/// Thread-safety: every member may be called concurrently. Exceptions: those of L2 (L1 is
/// in-process) when L1 cannot stand in; bus failures never throw (counted by the bus).
template <class K, class V>
class TieredBackend final : public Backend<K, V>, public StatsSource {
 public:
  TieredBackend(std::shared_ptr<Backend<K, V>> l1, std::shared_ptr<Backend<K, V>> l2,
                std::shared_ptr<InvalidationBus> bus, TieredOptions options = {},
                std::shared_ptr<const Clock> wall_clock = nullptr)
      : l1_(std::move(l1)),
        l2_(std::move(l2)),
        bus_(std::move(bus)),
        options_(std::move(options)),
        clock_(std::move(wall_clock)) {
    if (!l1_ || !l2_) throw argument_error("ttlcache: TieredBackend needs an L1 and an L2");
    if (options_.l1_max_ttl.count() <= 0) {
      throw argument_error("ttlcache: TieredOptions::l1_max_ttl must be positive");
    }
    if (bus_) {
      subscription_ = bus_->subscribe([this](const InvalidationMessage& m) { on_message(m); },
                                      [this] { on_reset(); });
    }
  }
  ~TieredBackend() override {
    if (bus_) bus_->unsubscribe(subscription_);
  }
  TieredBackend(const TieredBackend&) = delete;
  TieredBackend& operator=(const TieredBackend&) = delete;

  std::string_view name() const noexcept override { return "tiered"; }

  std::optional<V> get(const K& key) override {
    const bool use_l1 = l1_usable();
    if (use_l1) {
      if (auto hit = l1_->get(key)) {
        l1_hits_.fetch_add(1, std::memory_order_relaxed);
        return hit;
      }
    }
    l1_misses_.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t before = generation(key);
    std::optional<V> value;
    try {
      value = l2_->get(key);
    } catch (const backend_error&) {
      l2_failures_.fetch_add(1, std::memory_order_relaxed);
      l2_read_failures_.fetch_add(1, std::memory_order_relaxed);
      if (options_.serve_l1_when_l2_fails && !use_l1) {
        if (auto hit = l1_->get(key)) {
          l1_served_on_failure_.fetch_add(1, std::memory_order_relaxed);
          return hit;
        }
      }
      throw;
    }
    if (value) {
      l2_hits_.fetch_add(1, std::memory_order_relaxed);
      if (use_l1) fill(key, *value, before);
    }
    return value;
  }

  void set(const K& key, V value, std::chrono::milliseconds ttl) override {
    std::exception_ptr failure;
    {
      std::lock_guard<std::mutex> lock(write_lock(key));
      try {
        l2_->set(key, value, ttl);
      } catch (const backend_error&) {
        l2_failures_.fetch_add(1, std::memory_order_relaxed);
        failure = std::current_exception();
      }
      bump_generation(key);
      if (!failure || options_.serve_l1_when_l2_fails) {
        l1_->set(key, std::move(value), std::min(ttl, options_.l1_max_ttl));
      } else {
        l1_->erase(key);
      }
    }
    // After a failure too: L2 may hold either value, so other instances drop their copy.
    publish(InvalidationMessage::Kind::key, BusKey<K>::encode(key));
    if (failure) std::rethrow_exception(failure);
  }

  bool erase(const K& key) override {
    bool removed = false;
    std::exception_ptr failure;
    {
      std::lock_guard<std::mutex> lock(write_lock(key));
      try {
        removed = l2_->erase(key);
      } catch (const backend_error&) {
        l2_failures_.fetch_add(1, std::memory_order_relaxed);
        failure = std::current_exception();
      }
      bump_generation(key);
      l1_->erase(key);
    }
    publish(InvalidationMessage::Kind::key, BusKey<K>::encode(key));
    if (failure) std::rethrow_exception(failure);
    return removed;
  }

  bool contains(const K& key) override {
    const bool use_l1 = l1_usable();
    if (use_l1 && l1_->contains(key)) return true;
    try {
      return l2_->contains(key);
    } catch (const backend_error&) {
      l2_failures_.fetch_add(1, std::memory_order_relaxed);
      if (options_.serve_l1_when_l2_fails && !use_l1 && l1_->contains(key)) return true;
      throw;
    }
  }
  std::optional<std::chrono::milliseconds> ttl(const K& key) override {
    try {
      return l2_->ttl(key);
    } catch (const backend_error&) {
      l2_failures_.fetch_add(1, std::memory_order_relaxed);
      if (options_.serve_l1_when_l2_fails) {
        if (auto left = l1_->ttl(key)) return left;
      }
      throw;
    }
  }

  std::vector<std::optional<V>> get_many(const std::vector<K>& keys) override {
    const bool use_l1 = l1_usable();
    std::vector<std::optional<V>> out(keys.size());
    std::vector<K> missing;
    std::vector<std::size_t> where;
    std::vector<std::uint64_t> before;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (use_l1) out[i] = l1_->get(keys[i]);
      if (out[i]) {
        l1_hits_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      l1_misses_.fetch_add(1, std::memory_order_relaxed);
      missing.push_back(keys[i]);
      where.push_back(i);
      before.push_back(generation(keys[i]));
    }
    if (missing.empty()) return out;
    std::vector<std::optional<V>> found;
    try {
      found = l2_->get_many(missing);
    } catch (const backend_error&) {
      l2_failures_.fetch_add(1, std::memory_order_relaxed);
      l2_read_failures_.fetch_add(missing.size(), std::memory_order_relaxed);
      // Only a complete answer stands in for L2: a partial one would turn errors into misses,
      // which is the failure policy's decision, not this tier's.
      if (!options_.serve_l1_when_l2_fails || use_l1) throw;
      for (std::size_t j = 0; j < missing.size(); ++j) {
        out[where[j]] = l1_->get(missing[j]);
        if (!out[where[j]]) throw;
      }
      l1_served_on_failure_.fetch_add(missing.size(), std::memory_order_relaxed);
      return out;
    }
    for (std::size_t j = 0; j < found.size(); ++j) {
      if (!found[j]) continue;
      l2_hits_.fetch_add(1, std::memory_order_relaxed);
      if (use_l1) fill(missing[j], *found[j], before[j]);
      out[where[j]] = std::move(found[j]);
    }
    return out;
  }

  void set_many(std::vector<Write<K, V>> items) override {
    try {
      l2_->set_many(items);
    } catch (const backend_error&) {
      l2_failures_.fetch_add(1, std::memory_order_relaxed);
      for (auto& item : items) {
        {
          std::lock_guard<std::mutex> lock(write_lock(item.key));
          bump_generation(item.key);
          if (options_.serve_l1_when_l2_fails) {
            l1_->set(item.key, std::move(item.value), std::min(item.ttl, options_.l1_max_ttl));
          } else {
            l1_->erase(item.key);
          }
        }
        publish(InvalidationMessage::Kind::key, BusKey<K>::encode(item.key));
      }
      throw;
    }
    for (auto& item : items) {
      {
        std::lock_guard<std::mutex> lock(write_lock(item.key));
        bump_generation(item.key);
        // A concurrent set() of the same key may have overtaken the batch: drop rather than
        // guess which value is newer.
        l1_->erase(item.key);
      }
      publish(InvalidationMessage::Kind::key, BusKey<K>::encode(item.key));
    }
  }

  void clear() override {
    try {
      l2_->clear();
    } catch (const backend_error&) {
      l2_failures_.fetch_add(1, std::memory_order_relaxed);
      clear_l1();
      publish(InvalidationMessage::Kind::clear, {});
      throw;
    }
    clear_l1();
    publish(InvalidationMessage::Kind::clear, {});
  }
  std::size_t size() override { return l2_->size(); }

  /// Removes every entry whose encoded key starts with literal_prefix from L2, clears this L1
  /// (conservative: L1 has no ordered index) and tells the other instances to do the same.
  /// Returns what L2 removed. Throws argument_error without TieredOptions::l2_erase_prefix.
  std::size_t erase_prefix(std::string_view literal_prefix) {
    if (!options_.l2_erase_prefix) {
      throw argument_error(
          "ttlcache tiered backend: erase_prefix needs "
          "TieredOptions::l2_erase_prefix");
    }
    const std::size_t removed = options_.l2_erase_prefix(literal_prefix);
    clear_l1();
    publish(InvalidationMessage::Kind::prefix, std::string(literal_prefix));
    return removed;
  }

  /// As erase_prefix, for a KeyPattern: L2 removes the matches, this L1 is cleared and the
  /// other instances clear theirs. Throws argument_error without l2_erase_pattern.
  std::size_t erase_pattern(const KeyPattern& pattern) {
    if (!options_.l2_erase_pattern) {
      throw argument_error(
          "ttlcache tiered backend: erase_pattern needs TieredOptions::l2_erase_pattern");
    }
    const std::size_t removed = options_.l2_erase_pattern(pattern);
    clear_l1();
    // Receivers clear their whole L1 on a prefix message; the literal prefix is a superset.
    publish(InvalidationMessage::Kind::prefix, std::string(pattern.literal_prefix()));
    return removed;
  }

  TieredStats stats() const {
    TieredStats s;
    s.l1_hits = l1_hits_.load(std::memory_order_relaxed);
    s.l1_misses = l1_misses_.load(std::memory_order_relaxed);
    s.l2_hits = l2_hits_.load(std::memory_order_relaxed);
    s.l1_fills = l1_fills_.load(std::memory_order_relaxed);
    s.fills_dropped = fills_dropped_.load(std::memory_order_relaxed);
    s.invalidations_received = received_.load(std::memory_order_relaxed);
    s.resets = resets_.load(std::memory_order_relaxed);
    s.l2_failures = l2_failures_.load(std::memory_order_relaxed);
    s.l1_served_on_failure = l1_served_on_failure_.load(std::memory_order_relaxed);
    return s;
  }
  /// For Cache::stats(): L1's size, weight and removals, per-tier hits and misses, and the
  /// invalidations received from other instances.
  void collect_stats(BackendStats& out) const noexcept override {
    if (const auto* source = dynamic_cast<const StatsSource*>(l1_.get())) {
      source->collect_stats(out);
    }
    out.in_process = false;  // misses go to L2, a remote store in the usual set-up
    const TieredStats s = stats();
    // A read L1 answered because L2 failed was first counted as an L1 miss: count it as an L1
    // hit, and as neither hit nor miss of L2 (failed L2 reads are L2 errors).
    const auto minus = [](std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; };
    try {
      out.tiers.push_back(
          {"l1", s.l1_hits + s.l1_served_on_failure, minus(s.l1_misses, s.l1_served_on_failure)});
      out.tiers.push_back(
          {"l2", s.l2_hits,
           minus(s.l1_misses, s.l2_hits + l2_read_failures_.load(std::memory_order_relaxed))});
    } catch (...) {  // allocation failure: the snapshot goes without tiers
    }
    out.remote_invalidations = s.invalidations_received;
  }

  Backend<K, V>& l1() noexcept { return *l1_; }
  Backend<K, V>& l2() noexcept { return *l2_; }
  const TieredOptions& options() const noexcept { return options_; }

 private:
  static constexpr std::size_t stripes = 64;

  bool l1_usable() const noexcept {
    return !bus_ || !options_.bypass_l1_when_bus_down || bus_->healthy();
  }

  std::size_t stripe_of(const K& key) const {
    return static_cast<std::size_t>(detail::mix_hash(std::hash<K>{}(key)) % stripes);
  }
  std::uint64_t generation(const K& key) const {
    return generations_[stripe_of(key)].load(std::memory_order_seq_cst);
  }
  void bump_generation(const K& key) {
    generations_[stripe_of(key)].fetch_add(1, std::memory_order_seq_cst);
  }
  std::mutex& write_lock(const K& key) { return write_locks_[stripe_of(key)]; }

  // The fill is undone if the stripe's generation moved since the L2 read began: a message
  // (or own write) handled in between may have been about this key, and its L1 erase may have
  // run before this set. Checking after the set covers both orders.
  void fill(const K& key, const V& value, std::uint64_t before) {
    std::chrono::milliseconds ttl = options_.l1_max_ttl;
    if (auto left = detail::embedded_remaining(value, detail::wall_ms(clock_))) {
      ttl = std::min(ttl, *left);
    } else {
      // Values without an expiry hint ask L2 (one more round trip, on L1 misses only).
      auto l2_left = l2_->ttl(key);
      if (!l2_left) return;
      ttl = std::min(ttl, *l2_left);
    }
    if (ttl.count() <= 0) return;
    if (generation(key) != before) {
      fills_dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    l1_->set(key, value, ttl);
    if (generation(key) != before) {
      l1_->erase(key);
      fills_dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    l1_fills_.fetch_add(1, std::memory_order_relaxed);
  }

  void clear_l1() {
    for (auto& g : generations_) g.fetch_add(1, std::memory_order_seq_cst);
    l1_->clear();
  }

  void publish(InvalidationMessage::Kind kind, std::string subject) {
    if (!bus_) return;
    InvalidationMessage m;
    m.kind = kind;
    m.scope = options_.scope;
    m.subject = std::move(subject);
    bus_->publish(m);
  }

  void on_message(const InvalidationMessage& m) {
    if (m.scope != options_.scope) return;
    switch (m.kind) {
      case InvalidationMessage::Kind::key: {
        received_.fetch_add(1, std::memory_order_relaxed);
        if (auto key = BusKey<K>::decode(m.subject)) {
          bump_generation(*key);
          l1_->erase(*key);
        }
        break;
      }
      case InvalidationMessage::Kind::prefix:
      case InvalidationMessage::Kind::clear:
        received_.fetch_add(1, std::memory_order_relaxed);
        clear_l1();
        break;
      case InvalidationMessage::Kind::stamp:
        break;  // the TieredStampStore's business
    }
  }

  void on_reset() {
    resets_.fetch_add(1, std::memory_order_relaxed);
    clear_l1();
  }

  std::shared_ptr<Backend<K, V>> l1_;
  std::shared_ptr<Backend<K, V>> l2_;
  std::shared_ptr<InvalidationBus> bus_;
  TieredOptions options_;
  std::shared_ptr<const Clock> clock_;
  std::uint64_t subscription_ = 0;
  std::array<std::atomic<std::uint64_t>, stripes> generations_{};
  std::array<std::mutex, stripes> write_locks_;
  std::atomic<std::uint64_t> l1_hits_{0}, l1_misses_{0}, l2_hits_{0}, l1_fills_{0},
      fills_dropped_{0}, received_{0}, resets_{0}, l2_failures_{0}, l1_served_on_failure_{0};
  // Reads (keys) L2 failed to answer: neither hits nor misses of the "l2" tier.
  std::atomic<std::uint64_t> l2_read_failures_{0};
};

/// Tag and entity versions for a tiered cache: a local copy of the versions in front of the
/// shared StampStore (Redis), so that checking an L1 entry's tags costs no round trip. A
/// version message on the bus drops the local copy of that name (it does not store the version
/// it carries: messages from different instances may arrive in any order, and random versions
/// cannot be ordered), so the next read fetches the current version from the shared store. A
/// local copy is trusted for at most max_age (the same bound as L1 entries) and is dropped
/// when the bus resubscribes. While the shared store fails (Redis unreachable), versions are
/// answered from local copies younger than max_age, even while the bus is down, so tagged L1
/// entries stay readable through an outage within the staleness bound.
/// Thread-safety: every member may be called concurrently.
class TieredStampStore final : public StampStore {
 public:
  TieredStampStore(std::shared_ptr<StampStore> shared, std::shared_ptr<InvalidationBus> bus,
                   std::string scope, std::chrono::milliseconds max_age,
                   std::shared_ptr<const Clock> clock = nullptr, std::size_t max_local = 100'000)
      : shared_(std::move(shared)),
        bus_(std::move(bus)),
        scope_(std::move(scope)),
        max_age_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(max_age).count()),
        clock_(std::move(clock)),
        max_local_(max_local) {
    if (!shared_) throw argument_error("ttlcache: TieredStampStore needs a shared stamp store");
    if (bus_) {
      subscription_ = bus_->subscribe([this](const InvalidationMessage& m) { on_message(m); },
                                      [this] { forget(); });
    }
  }
  ~TieredStampStore() override {
    if (bus_) bus_->unsubscribe(subscription_);
  }
  TieredStampStore(const TieredStampStore&) = delete;
  TieredStampStore& operator=(const TieredStampStore&) = delete;

  std::string_view name() const noexcept override { return "tiered"; }

  std::vector<std::optional<std::uint64_t>> read_stamps(
      const std::vector<std::string>& names) override {
    std::vector<std::optional<std::uint64_t>> out(names.size());
    std::vector<std::string> missing;
    std::vector<std::size_t> where;
    const std::int64_t now = now_ns();
    const bool trust_local = !bus_ || bus_->healthy();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (std::size_t i = 0; i < names.size(); ++i) {
        auto it = trust_local ? local_.find(names[i]) : local_.end();
        if (it != local_.end() && now - it->second.fetched_ns < max_age_ns_) {
          out[i] = it->second.version;
        } else {
          missing.push_back(names[i]);
          where.push_back(i);
        }
      }
    }
    if (missing.empty()) return out;
    const std::uint64_t before = generation_.load(std::memory_order_seq_cst);
    std::vector<std::optional<std::uint64_t>> fetched;
    try {
      fetched = shared_->read_stamps(missing);
    } catch (const backend_error&) {
      // The shared store is unreachable: a local copy younger than max_age is as good as it
      // is while the bus is up (the same staleness bound as the L1 entries it validates), so
      // tagged L1 entries keep being served through an outage. Without one, the error stands.
      std::lock_guard<std::mutex> lock(mutex_);
      for (std::size_t j = 0; j < missing.size(); ++j) {
        auto it = local_.find(missing[j]);
        if (it == local_.end() || now - it->second.fetched_ns >= max_age_ns_) throw;
        out[where[j]] = it->second.version;
      }
      served_on_failure_.fetch_add(missing.size(), std::memory_order_relaxed);
      return out;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    // A message that arrived while we asked the shared store may be about a newer version.
    const bool keep = trust_local && generation_.load(std::memory_order_seq_cst) == before;
    for (std::size_t j = 0; j < missing.size(); ++j) {
      out[where[j]] = fetched[j];
      if (keep && fetched[j]) remember(missing[j], *fetched[j], now);
    }
    return out;
  }

  std::vector<std::uint64_t> acquire_stamps(const std::vector<std::string>& names,
                                            std::chrono::milliseconds keep_alive) override {
    return shared_->acquire_stamps(names, keep_alive);
  }

  std::vector<std::uint64_t> bump_stamps(const std::vector<std::string>& names,
                                         std::chrono::milliseconds keep_alive) override {
    const std::uint64_t before = generation_.load(std::memory_order_seq_cst);
    auto versions = shared_->bump_stamps(names, keep_alive);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // Another instance's bump may have crossed ours in the shared store (its message arrived
      // meanwhile): ours is then not necessarily the current version, so keep none.
      const bool keep = generation_.fetch_add(1, std::memory_order_seq_cst) == before;
      const std::int64_t now = now_ns();
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (keep) {
          remember(names[i], versions[i], now);
        } else {
          local_.erase(names[i]);
        }
      }
    }
    if (bus_) {
      for (std::size_t i = 0; i < names.size(); ++i) {
        InvalidationMessage m;
        m.kind = InvalidationMessage::Kind::stamp;
        m.scope = scope_;
        m.subject = names[i];
        m.version = versions[i];
        bus_->publish(m);
      }
    }
    return versions;
  }

  /// Versions held locally.
  std::size_t local_size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return local_.size();
  }
  /// Versions answered from the local copy because the shared store failed.
  std::uint64_t served_on_failure() const noexcept {
    return served_on_failure_.load(std::memory_order_relaxed);
  }

 private:
  struct Local {
    std::uint64_t version;
    std::int64_t fetched_ns;
  };

  void remember(const std::string& name, std::uint64_t version, std::int64_t now) {
    if (local_.size() >= max_local_ && local_.find(name) == local_.end()) local_.clear();
    local_[name] = Local{version, now};
  }

  void on_message(const InvalidationMessage& m) {
    if (m.kind != InvalidationMessage::Kind::stamp && m.kind != InvalidationMessage::Kind::clear) {
      return;
    }
    if (m.scope != scope_) return;
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (m.kind == InvalidationMessage::Kind::clear) {
      local_.clear();
    } else {
      // Versions are random, so a message cannot tell whether it is newer than our copy: a
      // late one (another instance bumped since, or we did) would bring an old version back.
      // Drop the copy; the next read asks the shared store, the one order everybody agrees on.
      local_.erase(m.subject);
    }
  }

  void forget() {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_seq_cst);
    local_.clear();
  }

  std::int64_t now_ns() const noexcept {
    const auto t = clock_ ? clock_->now() : std::chrono::steady_clock::now();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }

  std::shared_ptr<StampStore> shared_;
  std::shared_ptr<InvalidationBus> bus_;
  std::string scope_;
  std::int64_t max_age_ns_;
  std::shared_ptr<const Clock> clock_;
  std::size_t max_local_;
  std::uint64_t subscription_ = 0;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Local> local_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> served_on_failure_{0};
};

/// The pieces of one instance's tiered, tag-aware cache.
template <class K, class V>
struct TieredTagged {
  std::shared_ptr<TaggedBackend<K, V>> backend;  ///< give this to Cache
  std::shared_ptr<TieredBackend<K, Tagged<V>>> tiered;
  std::shared_ptr<TieredStampStore> stamps;
};

/// One instance's tag-aware tiered backend: L1 = a new MemoryBackend (l1_memory), L2 = l2 (shared
/// by every instance), versions in shared_stamps with a local copy, coherence over bus.
/// TieredOptions::l2_erase_prefix enables invalidate_matching. Throws argument_error.
template <class K, class V>
TieredTagged<K, V> make_tiered_tagged(std::shared_ptr<Backend<K, Tagged<V>>> l2,
                                      std::shared_ptr<StampStore> shared_stamps,
                                      std::shared_ptr<InvalidationBus> bus,
                                      TieredOptions options = {},
                                      MemoryOptions<K, Tagged<V>> l1_memory = {},
                                      TaggedOptions tagged = {}) {
  auto clock = l1_memory.clock;
  auto l1 = std::make_shared<MemoryBackend<K, Tagged<V>>>(std::move(l1_memory));
  TieredTagged<K, V> out;
  out.stamps = std::make_shared<TieredStampStore>(std::move(shared_stamps), bus, options.scope,
                                                  options.l1_max_ttl, clock);
  out.tiered = std::make_shared<TieredBackend<K, Tagged<V>>>(std::move(l1), std::move(l2),
                                                             std::move(bus), std::move(options),
                                                             tagged.clock ? tagged.clock : clock);
  if (!tagged.clock) tagged.clock = clock;
  if (!tagged.erase_prefix && out.tiered->options().l2_erase_prefix) {
    std::weak_ptr<TieredBackend<K, Tagged<V>>> weak = out.tiered;
    tagged.erase_prefix = [weak](std::string_view prefix) -> std::size_t {
      auto tiered = weak.lock();
      return tiered ? tiered->erase_prefix(prefix) : 0;
    };
  }
  if (!tagged.erase_pattern && out.tiered->options().l2_erase_pattern) {
    std::weak_ptr<TieredBackend<K, Tagged<V>>> weak = out.tiered;
    tagged.erase_pattern = [weak](const KeyPattern& pattern) -> std::size_t {
      auto tiered = weak.lock();
      return tiered ? tiered->erase_pattern(pattern) : 0;
    };
  }
  out.backend = std::make_shared<TaggedBackend<K, V>>(out.tiered, out.stamps, std::move(tagged));
  return out;
}

/// A ResilientBackend::on_repaired listener for the L2 of a tiered cache: a repair erased
/// values that other instances may have copied into their L1 meanwhile (they read L2 before
/// the repair ran), so it tells them on the bus, as a write would. `scope` is the tiered
/// cache's TieredOptions::scope.
template <class K>
std::function<void(const std::vector<K>&, bool)> publish_repairs(
    std::shared_ptr<InvalidationBus> bus, std::string scope) {
  return
      [bus = std::move(bus), scope = std::move(scope)](const std::vector<K>& keys, bool cleared) {
        if (!bus) return;
        InvalidationMessage m;
        m.scope = scope;
        if (cleared) {
          m.kind = InvalidationMessage::Kind::clear;
          bus->publish(m);
          return;
        }
        m.kind = InvalidationMessage::Kind::key;
        for (const auto& key : keys) {
          m.subject = BusKey<K>::encode(key);
          bus->publish(m);
        }
      };
}

}  // namespace ttlcache

// The TTL policy interface: how a Cache turns (content type, context) into a lifetime, and what
// it tells the policy about the data it caches (the feed adaptive policies learn from).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ttlcache/context.hpp"

namespace ttlcache {

/// One thing the library saw happen to cached data of a content type. The library, not the
/// user, reports these (a Cache calls TtlPolicy::observe on writes, invalidations, reloads and
/// reads of entries it knows the content type of).
struct TtlObservation {
  enum class Kind : std::uint8_t {
    write,             ///< a new value was written (set, set_many, a load that stored a value)
    invalidation,      ///< entries were removed because their data changed (key, tag, version,
                       ///< prefix or pattern invalidation)
    reload_changed,    ///< a refresh or reload loaded a value different from the cached one
    reload_unchanged,  ///< a refresh or reload loaded the same value: the data did not change
    read,              ///< an entry was read (hit or miss)
  };
  Kind kind = Kind::read;
  std::string_view content_type;  ///< only valid during the call
  /// When it happened, on the cache's monotonic clock; a default (zero) time means "now" on the
  /// policy's own clock.
  std::chrono::steady_clock::time_point at{};
  /// For reload_changed and reload_unchanged: how long the copy the reload replaced had been
  /// cached (since it was loaded). It makes the observation about one key: a change within
  /// that age, or none for that long. 0 = unknown: the policy then uses the time between
  /// reported changes of the content type instead (see AdaptiveTtl).
  std::chrono::milliseconds age{0};
  /// The key group the entry belongs to, when the user names one (CacheBuilder::ttl_group,
  /// EntryOptions::ttl_group); empty = none. A policy that keeps estimates per group learns it
  /// there as well as under the content type; others ignore it. Only valid during the call.
  std::string_view group{};
};

/// What an adaptive policy has learned about one key group of a content type (see
/// AdaptiveTypeStats::groups). Plain value type.
struct AdaptiveGroupStats {
  std::string group;
  double factor = 1.0;                           ///< the multiplier the group's TTLs get now
  std::chrono::milliseconds change_interval{0};  ///< the group's estimated unseen-change interval
  std::uint64_t observed_changes = 0;            ///< unseen changes reported (bursts included)
  std::uint64_t counted_changes = 0;             ///< unseen changes that moved the estimate
  std::uint64_t told_changes = 0;                ///< writes and invalidations (never shorten)
  std::uint64_t observed_reads = 0;
};

/// What an adaptive policy has learned about one content type (TtlPolicy::adaptive_stats(),
/// exported with the cache's statistics). Plain value type.
struct AdaptiveTypeStats {
  std::string content_type;
  double factor = 1.0;                           ///< the multiplier ttl_for applies now
  std::chrono::milliseconds change_interval{0};  ///< estimated interval between unseen changes
  std::uint64_t observed_changes = 0;            ///< unseen changes reported (bursts included)
  std::uint64_t counted_changes = 0;             ///< unseen changes that moved the estimate
  std::uint64_t told_changes = 0;                ///< writes and invalidations (never shorten)
  std::uint64_t observed_reads = 0;
  double reads_per_second = 0.0;  ///< reads over the time since the first observation
  /// The key groups of this type with estimates of their own (bounded: AdaptiveTtl::max_groups
  /// over all types), by name. The fields above count every observation of the type, grouped
  /// or not.
  std::vector<AdaptiveGroupStats> groups;
  /// Observations naming a group that got no estimate of its own (the bound was reached): they
  /// fed only the type's estimate, and that group's TTLs use the type's factor.
  std::uint64_t untracked_group_observations = 0;
};

/// Computes an entry's TTL from what the caller knows about it. DynamicTTL is the shipped
/// implementation; users may write their own. Implementations must be thread-safe: a Cache calls
/// ttl_for and observe concurrently from every thread that writes or reads. The result of
/// ttl_for must be positive.
class TtlPolicy {
 public:
  virtual ~TtlPolicy() = default;
  virtual std::chrono::milliseconds ttl_for(std::string_view content_type,
                                            const Context& context) const = 0;
  /// The TTL of an entry of a named key group (CacheBuilder::ttl_group, EntryOptions::ttl_group)
  /// of content_type. The default ignores the group: ttl_for(content_type, context), so
  /// policies written before groups existed keep working unchanged. A distinct name rather
  /// than an overload of ttl_for, so a policy overriding only ttl_for does not hide it (and
  /// does not trip -Woverloaded-virtual). The Cache calls it only with a non-empty group.
  virtual std::chrono::milliseconds ttl_for_group(std::string_view content_type,
                                                  std::string_view /*group*/,
                                                  const Context& context) const {
    return ttl_for(content_type, context);
  }
  /// The feed adaptive policies learn from (see TtlObservation). Called on the cache's hot
  /// paths: it must be cheap, thread-safe and must not throw. const because caches hold their
  /// policy as shared_ptr<const TtlPolicy>: what a policy learns is internal state, like a
  /// jitter counter, not a change of its configuration. The default ignores it.
  virtual void observe(const TtlObservation& /*observation*/) const noexcept {}
  /// True when observe() is used (the policy learns): the Cache then does the extra work of
  /// reporting tag and version invalidations by content type. The default: false.
  virtual bool adapts() const noexcept { return false; }
  /// What the policy learned, per content type, for Cache::stats(); empty by default.
  /// @throws std::bad_alloc only.
  virtual std::vector<AdaptiveTypeStats> adaptive_stats() const { return {}; }
};

}  // namespace ttlcache

// What a backend can report about itself for statistics (size, removals by cause, corrupt values).
// SPDX-License-Identifier: MIT
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ttlcache/removal.hpp"

namespace ttlcache {

/// Number of RemovalCause values (for arrays indexed by cause).
inline constexpr std::size_t removal_cause_count = 4;

/// A backend's own figures, as read by Cache::stats(). Fields a backend cannot know cheaply stay
/// empty (a remote store's entry count needs a full SCAN, so it is not read for statistics).
struct BackendStats {
  /// true for a backend that lives in this process (its calls cost nanoseconds, so Cache does
  /// not time them unless asked to).
  bool in_process = false;
  /// Entries held (may include expired entries not yet reclaimed).
  std::optional<std::uint64_t> entries;
  /// Sum of entry weights (bytes, with a byte-counting weigher).
  std::optional<std::uint64_t> weight;
  /// Removals by RemovalCause, when the backend counts them (only in-process backends can:
  /// Redis expires and evicts on its own).
  std::optional<std::array<std::uint64_t, removal_cause_count>> removals;
  /// Values that could not be decoded and were served as misses.
  std::uint64_t corrupt_values = 0;

  /// Read counters of one tier, as a tiered backend counts them ("l1", "l2").
  struct Tier {
    std::string name;
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
  };
  /// Filled by tiered backends; Cache::stats() adds them to CacheStats::tiers.
  std::vector<Tier> tiers;
  /// Invalidations received from other instances over an invalidation bus; Cache::stats()
  /// reports them as InvalidationKind::remote.
  std::optional<std::uint64_t> remote_invalidations;
};

/// Implemented by backends that report BackendStats. Cache finds it with a dynamic_cast once, at
/// construction; a backend that does not implement it is treated as remote with nothing to say.
///
/// Thread-safety: collect_stats may be called concurrently with every other member.
class StatsSource {
 public:
  virtual ~StatsSource() = default;
  /// Fills in what this backend knows; leaves the rest untouched. Must not throw.
  virtual void collect_stats(BackendStats& out) const noexcept = 0;
};

}  // namespace ttlcache

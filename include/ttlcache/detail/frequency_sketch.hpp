// A count-min sketch of 4-bit counters with periodic halving: TinyLFU's frequency estimate.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ttlcache::detail {

/// Approximate access counts of recently seen keys, by 32-bit key hash, in 8 bytes per counted
/// key. Four rows of 4-bit saturating counters (16 per 64-bit word); an estimate is the minimum
/// over the rows, and an increment raises only the rows at that minimum (conservative update,
/// which keeps collisions from inflating cold keys). After 10 x width increments every counter is
/// halved, so the sketch follows the recent popularity of keys rather than all-time counts
/// (TinyLFU's "reset", Einziger et al., ACM ToS 2017).
///
/// A key's four counters all lie in one 64-byte block (two words per row), as in Caffeine's
/// sketch: a table sized for a large cache does not fit the CPU caches, and one cache miss per
/// increment instead of four is what keeps a TinyLFU hit close to an LRU hit.
///
/// Not thread-safe: its owner (a shard's strategy) calls it under the shard's exclusive side.
class FrequencySketch {
 public:
  /// Sizes the sketch for about `expected_keys` distinct keys; clears all counts.
  void resize(std::size_t expected_keys) {
    std::size_t words = 16;
    while (words < expected_keys) words <<= 1;
    // 7 spare words so the table can start on a 64-byte boundary (blocks then match cache lines).
    storage_.assign(words + 7, 0);
    const auto address = reinterpret_cast<std::uintptr_t>(storage_.data());
    base_ = ((64 - address % 64) % 64) / sizeof(std::uint64_t);
    mask_ = words - 1;
    additions_ = 0;
    sample_size_ = 10 * words;
  }

  /// Keys the sketch was sized for (0 before the first resize).
  std::size_t width() const noexcept { return storage_.empty() ? 0 : mask_ + 1; }

  /// Estimated count of hash, 0..15.
  std::uint32_t frequency(std::uint32_t hash) const noexcept {
    if (storage_.empty()) return 0;
    const Probe p = probe(hash);
    std::uint32_t f = 15;
    for (int i = 0; i < 4; ++i) {
      const std::uint32_t c = counter(p.word[i], p.shift[i]);
      if (c < f) f = c;
    }
    return f;
  }

  /// Counts one access of hash.
  void increment(std::uint32_t hash) noexcept {
    if (storage_.empty()) return;
    const Probe p = probe(hash);
    std::uint32_t least = 15;
    for (int i = 0; i < 4; ++i) {
      const std::uint32_t c = counter(p.word[i], p.shift[i]);
      if (c < least) least = c;
    }
    if (least == 15) return;  // saturated everywhere: nothing to add, and no aging pressure
    for (int i = 0; i < 4; ++i) {
      if (counter(p.word[i], p.shift[i]) == least) {
        storage_[p.word[i]] += std::uint64_t{1} << p.shift[i];
      }
    }
    if (++additions_ >= sample_size_) halve();
  }

 private:
  struct Probe {
    std::size_t word[4];
    std::uint32_t shift[4];
  };

  // A 64-bit mix of the key hash picks the block; a second mix picks, per row, one of the row's
  // two words and one of its 16 lanes, so two keys in the same block rarely share all four.
  Probe probe(std::uint32_t hash) const noexcept {
    std::uint64_t a = (std::uint64_t{hash} + 0x9e3779b97f4a7c15ULL) * 0xbf58476d1ce4e5b9ULL;
    a ^= a >> 31;
    std::uint64_t b = (a ^ 0x94d049bb133111ebULL) * 0x9e3779b97f4a7c15ULL;
    b ^= b >> 29;
    const std::size_t block = (static_cast<std::size_t>(a >> 20) & (mask_ >> 3)) << 3;
    Probe p{};
    for (std::uint32_t i = 0; i < 4; ++i) {
      const std::uint64_t h = b >> (8 * i);
      p.word[i] = base_ + block + 2 * i + static_cast<std::size_t>(h & 1U);
      p.shift[i] = static_cast<std::uint32_t>((h >> 1) & 15U) * 4;
    }
    return p;
  }

  std::uint32_t counter(std::size_t word, std::uint32_t shift) const noexcept {
    return static_cast<std::uint32_t>(storage_[word] >> shift) & 15U;
  }

  void halve() noexcept {
    for (std::uint64_t& w : storage_) w = (w >> 1) & 0x7777777777777777ULL;
    additions_ /= 2;
  }

  std::vector<std::uint64_t> storage_;
  std::size_t base_ = 0;  // the table is storage_[base_ .. base_ + mask_], 64-byte aligned
  std::size_t mask_ = 0;
  std::size_t additions_ = 0;
  std::size_t sample_size_ = 0;
};

}  // namespace ttlcache::detail

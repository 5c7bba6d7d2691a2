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
    // All counts are gone: counts held outside the sketch (see epoch()) must go too, and are
    // halved away entirely after 4 epochs.
    for (int i = 0; i < 4; ++i) next_epoch();
  }

  /// Keys the sketch was sized for (0 before the first resize).
  std::size_t width() const noexcept { return storage_.empty() ? 0 : mask_ + 1; }

  /// Estimated count of hash, 0..15.
  std::uint32_t frequency(std::uint32_t hash) const noexcept {
    if (storage_.empty()) return 0;
    const Probe p = probe(hash);
    const Counts c = counts(p);
    return least(c);
  }

  /// Starts loading hash's block into the CPU cache, so that an increment() issued after other
  /// work (e.g. a list move, which waits on memory too) does not wait for it on its own.
  void prefetch(std::uint32_t hash) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
    if (!storage_.empty()) __builtin_prefetch(storage_.data() + block_of(mix(hash)), 1);
#else
    (void)hash;
#endif
  }

  /// Changes whenever counts may go down (each halving, each resize); never 0. A count held
  /// outside the sketch since epoch e (TinyLfuPolicy keeps a resident key's reads in its node)
  /// is aged by halving it once per epoch since e, as the sketch halved its own counts; a
  /// resize, which clears every count, moves the epoch by 4, which halves a 4-bit count to 0.
  std::uint16_t epoch() const noexcept { return epoch_; }

  /// Counts one access of hash (conservative update: the rows at hash's minimum go up by one).
  void increment(std::uint32_t hash) noexcept {
    if (storage_.empty()) return;
    if (raise(hash, 1) < 15) note_addition();
  }

  /// Adds `count` accesses of hash whose note_addition() calls were made when they happened:
  /// raises hash's rows to at least min(estimate + count, 15), as `count` conservative
  /// increments would. Returns hash's estimate afterwards (15: saturated).
  std::uint32_t add(std::uint32_t hash, std::uint32_t count) noexcept {
    if (storage_.empty()) return 0;
    const std::uint32_t before = raise(hash, count);
    return before + count < 15 ? before + count : 15;
  }

  /// Counts one access towards the next halving (every 10 x width accesses, which is what
  /// keeps the sketch following recent popularity), for an access added later with add().
  void note_addition() noexcept {
    if (++additions_ >= sample_size_ && !storage_.empty()) halve();
  }

 private:
  // Where a key's four counters are: row i is the 4-bit lane at shift_i of word_i in the block
  // starting at storage_[block]; row i uses words 2i and 2i + 1, so the rows never share a word.
  struct Probe {
    std::size_t block;
    std::uint32_t word0, word1, word2, word3;
    std::uint32_t shift0, shift1, shift2, shift3;
  };
  struct Counts {
    std::uint32_t row0, row1, row2, row3;
  };

  // A 64-bit mix of the key hash picks the block; a second mix picks, per row, one of the row's
  // two words and one of its 16 lanes, so two keys in the same block rarely share all four.
  static std::uint64_t mix(std::uint32_t hash) noexcept {
    const std::uint64_t a = (std::uint64_t{hash} + 0x9e3779b97f4a7c15ULL) * 0xbf58476d1ce4e5b9ULL;
    return a ^ (a >> 31);
  }
  std::size_t block_of(std::uint64_t mixed) const noexcept {
    return base_ + ((static_cast<std::size_t>(mixed >> 20) & (mask_ >> 3)) << 3);
  }

  Probe probe(std::uint32_t hash) const noexcept {
    const std::uint64_t a = mix(hash);
    std::uint64_t b = (a ^ 0x94d049bb133111ebULL) * 0x9e3779b97f4a7c15ULL;
    b ^= b >> 29;
    Probe p{};
    p.block = block_of(a);
    const auto lanes = static_cast<std::uint32_t>(b);
    p.word0 = 0 + (lanes & 1U);
    p.word1 = 2 + ((lanes >> 8) & 1U);
    p.word2 = 4 + ((lanes >> 16) & 1U);
    p.word3 = 6 + ((lanes >> 24) & 1U);
    p.shift0 = ((lanes >> 1) & 15U) * 4;
    p.shift1 = ((lanes >> 9) & 15U) * 4;
    p.shift2 = ((lanes >> 17) & 15U) * 4;
    p.shift3 = ((lanes >> 25) & 15U) * 4;
    return p;
  }

  Counts counts(const Probe& p) const noexcept {
    const std::uint64_t* const block = storage_.data() + p.block;
    return {static_cast<std::uint32_t>(block[p.word0] >> p.shift0) & 15U,
            static_cast<std::uint32_t>(block[p.word1] >> p.shift1) & 15U,
            static_cast<std::uint32_t>(block[p.word2] >> p.shift2) & 15U,
            static_cast<std::uint32_t>(block[p.word3] >> p.shift3) & 15U};
  }

  static std::uint32_t least(const Counts& c) noexcept {
    const std::uint32_t a = c.row0 < c.row1 ? c.row0 : c.row1;
    const std::uint32_t b = c.row2 < c.row3 ? c.row2 : c.row3;
    return a < b ? a : b;
  }

  // Raises hash's rows below min(estimate + count, 15) to that value (count conservative
  // increments at once); returns the estimate before. Written out rather than looped: GCC -O2
  // does not unroll a 4-step loop over arrays, and the loop version cost 200 instructions per
  // increment instead of about 50.
  std::uint32_t raise(std::uint32_t hash, std::uint32_t count) noexcept {
    const Probe p = probe(hash);
    const Counts c = counts(p);
    const std::uint32_t low = least(c);
    if (low == 15) return low;  // saturated everywhere: nothing to add, and no aging pressure
    const std::uint32_t to = low + count < 15 ? low + count : 15;
    std::uint64_t* const block = storage_.data() + p.block;
    if (c.row0 < to) block[p.word0] += std::uint64_t{to - c.row0} << p.shift0;
    if (c.row1 < to) block[p.word1] += std::uint64_t{to - c.row1} << p.shift1;
    if (c.row2 < to) block[p.word2] += std::uint64_t{to - c.row2} << p.shift2;
    if (c.row3 < to) block[p.word3] += std::uint64_t{to - c.row3} << p.shift3;
    return low;
  }

  void halve() noexcept {
    for (std::uint64_t& w : storage_) w = (w >> 1) & 0x7777777777777777ULL;
    additions_ /= 2;
    next_epoch();
  }

  void next_epoch() noexcept {
    if (++epoch_ == 0) epoch_ = 1;
  }

  std::vector<std::uint64_t> storage_;
  std::size_t base_ = 0;  // the table is storage_[base_ .. base_ + mask_], 64-byte aligned
  std::size_t mask_ = 0;
  std::size_t additions_ = 0;
  std::size_t sample_size_ = 0;
  std::uint16_t epoch_ = 1;
};

}  // namespace ttlcache::detail

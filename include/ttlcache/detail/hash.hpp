// Hash finalisation: spreads weak hashes (std::hash<int> is the identity) over all 64 bits.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>

namespace ttlcache::detail {

/// The 64-bit finaliser of MurmurHash3: every input bit affects every output bit, so both the
/// shard (top bits) and the table position (low bits) are well distributed.
constexpr std::uint64_t mix_hash(std::uint64_t x) noexcept {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace ttlcache::detail

// Value header encoding and the CRC-32C that guards it.
// SPDX-License-Identifier: MIT
#include "value_format.hpp"

#include <array>
#include <cstring>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define TTLCACHE_REDIS_CRC32C_SSE42 1
#endif

namespace ttlcache::redis::detail {
namespace {

using CrcTables = std::array<std::array<std::uint32_t, 256>, 8>;

// Built at compile time: table[0] is the classic byte table, table[k] advances k more bytes,
// which lets the loop below fold 8 input bytes per step.
constexpr CrcTables make_crc_tables() {
  CrcTables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1U) ? (c >> 1) ^ 0x82F63B78U : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t k = 1; k < 8; ++k) {
    for (std::size_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFU];
  }
  return t;
}

constexpr CrcTables crc_tables = make_crc_tables();

std::uint32_t load_le32(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

#ifdef TTLCACHE_REDIS_CRC32C_SSE42
// Compiled for SSE4.2 whatever the global flags say; only called after the CPU check below.
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(const unsigned char* p,
                                                             std::size_t n) noexcept {
  std::uint64_t crc = 0xFFFFFFFFU;
#if defined(__x86_64__)
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    crc = _mm_crc32_u64(crc, word);
  }
#endif
  auto crc32 = static_cast<std::uint32_t>(crc);
  for (; n > 0; --n, ++p) crc32 = _mm_crc32_u8(crc32, *p);
  return crc32 ^ 0xFFFFFFFFU;
}

bool cpu_has_sse42() noexcept {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return has;
}
#endif

}  // namespace

std::uint32_t crc32c_portable(std::string_view data) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  std::uint32_t crc = 0xFFFFFFFFU;
  while (n >= 8) {
    const std::uint32_t lo = load_le32(p) ^ crc;
    const std::uint32_t hi = load_le32(p + 4);
    crc = crc_tables[7][lo & 0xFFU] ^ crc_tables[6][(lo >> 8) & 0xFFU] ^
          crc_tables[5][(lo >> 16) & 0xFFU] ^ crc_tables[4][lo >> 24] ^ crc_tables[3][hi & 0xFFU] ^
          crc_tables[2][(hi >> 8) & 0xFFU] ^ crc_tables[1][(hi >> 16) & 0xFFU] ^
          crc_tables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ crc_tables[0][(crc ^ *p++) & 0xFFU];
  return crc ^ 0xFFFFFFFFU;
}

std::uint32_t crc32c(std::string_view data) noexcept {
#ifdef TTLCACHE_REDIS_CRC32C_SSE42
  if (cpu_has_sse42()) {
    return crc32c_sse42(reinterpret_cast<const unsigned char*>(data.data()), data.size());
  }
#endif
  return crc32c_portable(data);
}

void wrap_value(std::string& out, std::string_view payload, bool with_checksum) {
  out.clear();
  out.reserve(value_header_max + payload.size());
  for (unsigned char m : value_magic) out.push_back(static_cast<char>(m));
  out.push_back(static_cast<char>(value_format_version));
  out.push_back(static_cast<char>(with_checksum ? value_flag_crc32 : 0));
  if (with_checksum) {
    const std::uint32_t crc = crc32c(payload);
    for (int shift = 0; shift < 32; shift += 8)
      out.push_back(static_cast<char>((crc >> shift) & 0xFFU));
  }
  out.append(payload);
}

std::optional<std::string_view> unwrap_value(std::string_view stored) noexcept {
  if (stored.size() < value_header_min) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(stored.data());
  if (p[0] != value_magic[0] || p[1] != value_magic[1] || p[2] != value_magic[2]) {
    return std::nullopt;
  }
  // A newer format is a miss rather than a guess: an old reader must not misread it.
  if (p[3] != value_format_version) return std::nullopt;
  const unsigned char flags = p[4];
  if ((flags & ~value_flag_crc32) != 0) return std::nullopt;
  if ((flags & value_flag_crc32) == 0) return stored.substr(value_header_min);
  if (stored.size() < value_header_max) return std::nullopt;
  std::string_view payload = stored.substr(value_header_max);
  if (crc32c(payload) != load_le32(p + value_header_min)) return std::nullopt;
  return payload;
}

}  // namespace ttlcache::redis::detail

// The header in front of every value ttlcache stores in Redis, and its CRC-32C.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ttlcache::redis::detail {

// Layout (version 1), all integers little-endian:
//   byte 0..2  magic 0xF5 'T' 'C'   (0xF5 never occurs in UTF-8, so text/JSON written by other
//                                    clients can never look like one of our values)
//   byte 3     format version (1)
//   byte 4     flags: bit 0 = a CRC-32C follows; other bits must be 0
//   byte 5..8  CRC-32C (Castagnoli, as iSCSI and ext4) of the payload, when flag bit 0 is set
//   then       the payload (the codec's bytes)
inline constexpr unsigned char value_magic[3] = {0xF5, 'T', 'C'};
inline constexpr unsigned char value_format_version = 1;
inline constexpr unsigned char value_flag_crc32 = 0x01;
inline constexpr std::size_t value_header_min = 5;
inline constexpr std::size_t value_header_max = 9;

/// CRC-32C (reflected polynomial 0x82F63B78; crc32c("123456789") == 0xE3069283). Uses the
/// SSE4.2 crc32 instruction where the CPU has it: the checksum is on every read's path, and the
/// table version costs about as much as the rest of a batch read's CPU work.
std::uint32_t crc32c(std::string_view data) noexcept;
/// The portable table-driven version (slicing by 8), for tests and CPUs without SSE4.2.
std::uint32_t crc32c_portable(std::string_view data) noexcept;

/// Writes header + payload into out (replacing its contents; keeps its capacity).
void wrap_value(std::string& out, std::string_view payload, bool with_checksum);

/// Whether stored begins with the magic bytes (a framed value, well-formed or not).
inline bool looks_framed(std::string_view stored) noexcept {
  return stored.size() >= 3 && static_cast<unsigned char>(stored[0]) == value_magic[0] &&
         static_cast<unsigned char>(stored[1]) == value_magic[1] &&
         static_cast<unsigned char>(stored[2]) == value_magic[2];
}

/// The payload, or nullopt when the bytes are not a well-formed value of a known version
/// or the checksum does not match.
std::optional<std::string_view> unwrap_value(std::string_view stored) noexcept;

}  // namespace ttlcache::redis::detail

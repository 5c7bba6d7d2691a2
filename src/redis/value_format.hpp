// The header in front of every value ttlcache stores in Redis, and its CRC-32.
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
//   byte 4     flags: bit 0 = a CRC-32 follows; other bits must be 0
//   byte 5..8  CRC-32 (IEEE, as zlib) of the payload, when flag bit 0 is set
//   then       the payload (the codec's bytes)
inline constexpr unsigned char value_magic[3] = {0xF5, 'T', 'C'};
inline constexpr unsigned char value_format_version = 1;
inline constexpr unsigned char value_flag_crc32 = 0x01;
inline constexpr std::size_t value_header_min = 5;
inline constexpr std::size_t value_header_max = 9;

/// CRC-32 (reflected polynomial 0xEDB88320, as zlib's crc32()), slicing by 8.
std::uint32_t crc32(std::string_view data) noexcept;

/// Writes header + payload into out (replacing its contents; keeps its capacity).
void wrap_value(std::string& out, std::string_view payload, bool with_checksum);

/// The payload, or nullopt when the bytes are not a well-formed value of a known version
/// or the checksum does not match.
std::optional<std::string_view> unwrap_value(std::string_view stored) noexcept;

}  // namespace ttlcache::redis::detail

// The library version, written once here and read by CMake.
// SPDX-License-Identifier: MIT
#pragma once

#define TTLCACHE_VERSION_MAJOR 0
#define TTLCACHE_VERSION_MINOR 1
#define TTLCACHE_VERSION_PATCH 0

/// The version as one integer (major * 10000 + minor * 100 + patch), for #if checks.
#define TTLCACHE_VERSION \
  (TTLCACHE_VERSION_MAJOR * 10000 + TTLCACHE_VERSION_MINOR * 100 + TTLCACHE_VERSION_PATCH)

namespace ttlcache {
/// The version this header belongs to, as "major.minor.patch".
inline constexpr const char* version_string = "0.1.0";
}  // namespace ttlcache

// The library version, written once here and read by CMake.
// SPDX-License-Identifier: MIT
#pragma once

#define TTLCACHE_VERSION_MAJOR 0
#define TTLCACHE_VERSION_MINOR 1
#define TTLCACHE_VERSION_PATCH 0

/// The version as one integer (major * 10000 + minor * 100 + patch), for #if checks.
#define TTLCACHE_VERSION \
  (TTLCACHE_VERSION_MAJOR * 10000 + TTLCACHE_VERSION_MINOR * 100 + TTLCACHE_VERSION_PATCH)

// Stringified from the numbers above, so the version is not written a second time.
#define TTLCACHE_DETAIL_STR(x) #x
#define TTLCACHE_DETAIL_VERSION_STR(a, b, c) \
  TTLCACHE_DETAIL_STR(a) "." TTLCACHE_DETAIL_STR(b) "." TTLCACHE_DETAIL_STR(c)

namespace ttlcache {
/// The version this header belongs to, as "major.minor.patch".
inline constexpr const char* version_string = TTLCACHE_DETAIL_VERSION_STR(
    TTLCACHE_VERSION_MAJOR, TTLCACHE_VERSION_MINOR, TTLCACHE_VERSION_PATCH);
}  // namespace ttlcache

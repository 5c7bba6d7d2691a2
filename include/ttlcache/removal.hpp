// Why an entry left a cache, and the listener that is told.
// SPDX-License-Identifier: MIT
#pragma once

#include <functional>
#include <string_view>

namespace ttlcache {

enum class RemovalCause {
  expired,   ///< its TTL passed
  evicted,   ///< removed to respect the entry-count or weight bound
  erased,    ///< removed by erase() or clear()
  replaced,  ///< overwritten by set() for the same key (the listener sees the old value)
};

constexpr std::string_view to_string(RemovalCause cause) noexcept {
  switch (cause) {
    case RemovalCause::expired:
      return "expired";
    case RemovalCause::evicted:
      return "evicted";
    case RemovalCause::erased:
      return "erased";
    case RemovalCause::replaced:
      return "replaced";
  }
  return "unknown";
}

/// Called after an entry is removed, outside any internal lock, on the thread whose operation
/// removed it. It may call back into the cache. Exceptions it throws are swallowed (a listener
/// must not break the operation that triggered it).
template <class K, class V>
using RemovalListener = std::function<void(const K& key, const V& value, RemovalCause cause)>;

}  // namespace ttlcache

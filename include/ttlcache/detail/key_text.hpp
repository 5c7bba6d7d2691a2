// A key as text for messages and events.
// SPDX-License-Identifier: MIT
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

namespace ttlcache::detail {

/// A key as text: strings as they are, numbers formatted, anything else "".
template <class K>
std::string key_text(const K& key) {
  if constexpr (std::is_convertible_v<const K&, std::string_view>) {
    return std::string(std::string_view(key));
  } else if constexpr (std::is_arithmetic_v<K>) {
    return std::to_string(key);
  } else {
    return std::string();
  }
}

}  // namespace ttlcache::detail

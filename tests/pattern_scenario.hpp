// The key-pattern scenario shared by the in-process and the Redis pattern tests.
// SPDX-License-Identifier: MIT
#pragma once

#include <string>
#include <vector>

namespace ttlcache_test {

/// User ids full of glob syntax, and the keys each user owns: "files:{u}:list",
/// "thumbs:{u}:42" and "profile:{u}" (the last one is outside the pattern *:{u}:*).
inline const std::vector<std::string>& pattern_users() {
  static const std::vector<std::string> users = {"*",  "?",   "[ab]", "a", "b",
                                                 "\\", "x*y", "xzy",  "1", ""};
  return users;
}

inline std::vector<std::string> keys_of(const std::string& user) {
  return {"files:" + user + ":list", "thumbs:" + user + ":42", "profile:" + user};
}

}  // namespace ttlcache_test

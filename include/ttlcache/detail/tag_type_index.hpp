// Which content types were stored under each tag and entity type, in a small bounded map, so a
// tag or version invalidation can be reported to an adaptive TtlPolicy by content type.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ttlcache/tags.hpp"

namespace ttlcache::detail {

/// Remembers, per tag and per entity type, up to types_per_name content types of entries stored
/// under it. Bounded: at most max_names names; when full, one arbitrary name is forgotten to make
/// room (a forgotten tag is relearned at its next store, and an invalidation it misses only
/// goes unreported, which costs the policy one observation, never a stale read).
/// Thread-safety: every member may be called concurrently (one mutex). Exceptions: none escape;
/// an allocation failure loses the association.
class TagTypeIndex {
 public:
  static constexpr std::size_t max_names = 8192;
  static constexpr std::size_t types_per_name = 4;

  /// Records that an entry of content_type was stored under tags.
  void remember(const Tags& tags, std::string_view content_type) noexcept {
    if (content_type.empty()) return;
    try {
      const std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& t : tags.tags()) add(name('t', t), content_type);
      for (const auto& e : tags.entity_types()) add(name('e', e), content_type);
    } catch (...) {  // std::bad_alloc or a failed lock: one association lost
    }
  }

  /// The content types stored under these tags (none twice).
  std::vector<std::string> types_of_tags(const std::vector<std::string>& tags) const noexcept {
    std::vector<std::string> out;
    try {
      const std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& t : tags) collect(name('t', t), out);
    } catch (...) {
    }
    return out;
  }
  /// The content types stored under an entity type's version.
  std::vector<std::string> types_of_entity(std::string_view entity_type) const noexcept {
    std::vector<std::string> out;
    try {
      const std::lock_guard<std::mutex> lock(mutex_);
      collect(name('e', entity_type), out);
    } catch (...) {
    }
    return out;
  }

  std::size_t size() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return names_.size();
  }

 private:
  // One map for both kinds: a one-letter prefix keeps tag "x" and entity type "x" apart.
  static std::string name(char kind, std::string_view text) {
    std::string out;
    out.reserve(text.size() + 1);
    out += kind;
    out += text;
    return out;
  }

  void add(std::string key, std::string_view content_type) {
    auto it = names_.find(key);
    if (it == names_.end()) {
      if (names_.size() >= max_names) names_.erase(names_.begin());
      it = names_.emplace(std::move(key), std::vector<std::string>{}).first;
    }
    auto& types = it->second;
    if (types.size() >= types_per_name ||
        std::find(types.begin(), types.end(), content_type) != types.end()) {
      return;
    }
    types.emplace_back(content_type);
  }

  void collect(const std::string& key, std::vector<std::string>& out) const {
    const auto it = names_.find(key);
    if (it == names_.end()) return;
    for (const auto& type : it->second) {
      if (std::find(out.begin(), out.end(), type) == out.end()) out.push_back(type);
    }
  }

  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::vector<std::string>> names_;
};

}  // namespace ttlcache::detail

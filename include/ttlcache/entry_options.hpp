// EntryOptions: how one call stores its entry (TTL or content type, tags, fail-safe, timeouts).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "ttlcache/context.hpp"
#include "ttlcache/tags.hpp"

namespace ttlcache {

/// Per-call options, one value for every combination (FusionCache's entry options are the
/// model): what is not set comes from the cache (CacheBuilder / CacheOptions). Accepted by
/// set, set_many, get_or_load, get_or_load_result, get_many_or_load and warm.
///
/// ```
/// cache.set(key, value, 5min);                                      // a duration converts
/// cache.get_or_load(key, load, EntryOptions().content_type("file_list", ctx).tag("user:42"));
/// cache.warm(keys, load, EntryOptions().ttl(1h).entity("file"));
/// ```
///
/// TTL: ttl() if set; otherwise the cache's TtlPolicy for content_type() (computed after the
/// load, so time-of-day rules see when the value was produced); otherwise the cache's default.
/// Tags and entity types need a cache built with tags (CacheBuilder::tags()).
///
/// Thread-safety: a plain value; copy it freely. Exceptions: the setters only allocate.
class EntryOptions {
 public:
  EntryOptions() = default;
  /// A TTL alone: lets `cache.set(key, value, 5min)` and `get_or_load(key, f, 30s)` read as
  /// before.
  template <class Rep, class Period>
  EntryOptions(std::chrono::duration<Rep, Period> ttl)  // NOLINT(google-explicit-constructor)
      : ttl_(std::chrono::ceil<std::chrono::milliseconds>(ttl)) {}

  // ---- setters (chainable) ----

  /// The entry's lifetime. Rounded up to whole milliseconds (so a positive TTL stays positive).
  template <class Rep, class Period>
  EntryOptions& ttl(std::chrono::duration<Rep, Period> ttl) {
    ttl_ = std::chrono::ceil<std::chrono::milliseconds>(ttl);
    return *this;
  }
  /// The content type: the TtlPolicy computes the TTL from it and context (unless ttl() is
  /// set), and statistics count the call under it.
  EntryOptions& content_type(std::string type, Context context = {}) {
    content_type_ = std::move(type);
    context_ = std::move(context);
    return *this;
  }
  /// The key group of this call's entries, for an adaptive TtlPolicy (docs/dynamic-ttl.md,
  /// "Key groups"): overrides CacheBuilder::ttl_group for every key of the call. Only used with
  /// a content type; empty (the default) = the builder's function, if any.
  EntryOptions& ttl_group(std::string group) {
    ttl_group_ = std::move(group);
    return *this;
  }
  /// Adds a tag; invalidate_tag(tag) makes the entry a miss on every instance.
  EntryOptions& tag(std::string name) {
    tags_.tag(std::move(name));
    has_tags_ = true;
    return *this;
  }
  /// Sets the whole dependency set at once: `.tags({"user:42", "files"})`, or
  /// `.tags(Tags{"user:42"}.entity("file"))`, or `.tags(Tags(vector_of_tags))`.
  EntryOptions& tags(Tags tags) {
    has_tags_ = has_tags_ || !tags.empty();
    tags_ = std::move(tags);
    return *this;
  }
  /// Adds a dependency on the current version of an entity type (bump_version).
  EntryOptions& entity(std::string type) {
    tags_.entity(std::move(type));
    has_tags_ = true;
    return *this;
  }
  /// Fail-safe for this call: on (serve a stale copy when the load or the cache fails) or off,
  /// overriding the cache's LoadOptions::fail_safe. On needs a cache built with fail-safe.
  EntryOptions& fail_safe(bool on) {
    fail_safe_ = on;
    return *this;
  }
  /// Load timeouts for this call (0 = none), overriding LoadOptions::soft_timeout/hard_timeout.
  EntryOptions& timeouts(std::chrono::milliseconds soft, std::chrono::milliseconds hard) {
    soft_timeout_ = soft;
    hard_timeout_ = hard;
    return *this;
  }
  /// The budget of each backend call this call makes (deadline.hpp), overriding
  /// CacheOptions::call_deadline; 0 = none.
  EntryOptions& deadline(std::chrono::milliseconds budget) {
    deadline_ = budget;
    return *this;
  }

  // ---- getters ----

  const std::optional<std::chrono::milliseconds>& ttl() const noexcept { return ttl_; }
  const std::string& content_type() const noexcept { return content_type_; }
  const Context& context() const noexcept { return context_; }
  const std::string& ttl_group() const noexcept { return ttl_group_; }
  /// The tags and entity types; nullptr when there are none.
  const Tags* tags() const noexcept { return has_tags_ ? &tags_ : nullptr; }
  const std::optional<bool>& fail_safe() const noexcept { return fail_safe_; }
  const std::optional<std::chrono::milliseconds>& soft_timeout() const noexcept {
    return soft_timeout_;
  }
  const std::optional<std::chrono::milliseconds>& hard_timeout() const noexcept {
    return hard_timeout_;
  }
  const std::optional<std::chrono::milliseconds>& deadline() const noexcept { return deadline_; }

 private:
  std::optional<std::chrono::milliseconds> ttl_;
  std::string content_type_;
  Context context_;
  std::string ttl_group_;
  Tags tags_;
  bool has_tags_ = false;
  std::optional<bool> fail_safe_;
  std::optional<std::chrono::milliseconds> soft_timeout_;
  std::optional<std::chrono::milliseconds> hard_timeout_;
  std::optional<std::chrono::milliseconds> deadline_;
};

}  // namespace ttlcache

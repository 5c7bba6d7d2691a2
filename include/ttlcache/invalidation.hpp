// Invalidation tied to writes: a wrapper, an RAII scope, and write-through to the source of truth.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ttlcache/cache.hpp"
#include "ttlcache/tags.hpp"

namespace ttlcache {

/// What a write makes stale. Empty members are skipped.
template <class K>
struct Invalidation {
  std::vector<K> keys;                    ///< erased (and, on a tiered cache, announced)
  std::vector<std::string> tags;          ///< invalidate_tags
  std::vector<std::string> entity_types;  ///< bump_version for each
  std::vector<std::string> prefixes;      ///< invalidate_matching for each
};

/// Carries out an Invalidation on cache. Keys need no tag-aware backend; the rest do
/// (argument_error otherwise). Throws what the backend throws; stops at the first failure.
template <class K, class V>
void invalidate(Cache<K, V>& cache, const Invalidation<K>& what) {
  for (const auto& key : what.keys) cache.erase(key);
  if (!what.tags.empty()) cache.invalidate_tags(what.tags);
  for (const auto& type : what.entity_types) cache.bump_version(type);
  for (const auto& prefix : what.prefixes) cache.invalidate_matching(prefix);
}

/// Runs write(args...) and, only if it returns normally, invalidates `what`; returns write's
/// result. If write throws, nothing is invalidated and the exception propagates. (An
/// invalidation that fails after a successful write throws; the write is not undone.)
template <class K, class V, class Write, class... Args>
decltype(auto) invalidate_after(Cache<K, V>& cache, const Invalidation<K>& what, Write&& write,
                                Args&&... args) {
  using Result = std::invoke_result_t<Write, Args...>;
  if constexpr (std::is_void_v<Result>) {
    std::invoke(std::forward<Write>(write), std::forward<Args>(args)...);
    invalidate(cache, what);
  } else {
    Result result = std::invoke(std::forward<Write>(write), std::forward<Args>(args)...);
    invalidate(cache, what);
    return result;
  }
}

/// The decorator form (Python's `@invalidates_cache`): returns a callable that runs write with
/// its arguments and then invalidates `what`, as invalidate_after does.
///
///     auto save_file = ttlcache::invalidates(cache, {{}, {"files"}},
///                                            [&](const File& f) { db.save(f); });
///     save_file(file);   // on success: entries tagged "files" are misses everywhere
///
/// The cache must outlive the callable.
template <class K, class V, class Write>
auto invalidates(Cache<K, V>& cache, Invalidation<K> what, Write write) {
  // Not mutable: the callable may be held const (and shared between threads if write allows).
  return
      [&cache, what = std::move(what), write = std::move(write)](auto&&... args) -> decltype(auto) {
        return invalidate_after(cache, what, write, std::forward<decltype(args)>(args)...);
      };
}

/// RAII form: the invalidation runs when the scope ends, only if commit() was called and no
/// exception is unwinding the scope.
///
///     {
///       ttlcache::InvalidationScope scope(cache, {{key}, {"user:42"}});
///       db.update(...);     // throws: nothing is invalidated
///       scope.commit();
///     }                     // invalidates key and tag user:42
///
/// A failing invalidation in the destructor is swallowed (destructors must not throw); call
/// finish() to run it early and see the exception.
template <class K, class V>
class InvalidationScope {
 public:
  InvalidationScope(Cache<K, V>& cache, Invalidation<K> what)
      : cache_(cache), what_(std::move(what)), exceptions_(std::uncaught_exceptions()) {}
  ~InvalidationScope() {
    if (!committed_ || done_ || std::uncaught_exceptions() > exceptions_) return;
    try {
      invalidate(cache_, what_);
    } catch (...) {
    }
  }
  InvalidationScope(const InvalidationScope&) = delete;
  InvalidationScope& operator=(const InvalidationScope&) = delete;

  /// Marks the write as successful.
  void commit() noexcept { committed_ = true; }
  /// Invalidates now (if committed) and disarms the destructor. Throws what invalidate throws.
  void finish() {
    if (!committed_ || done_) return;
    done_ = true;
    invalidate(cache_, what_);
  }

 private:
  Cache<K, V>& cache_;
  Invalidation<K> what_;
  int exceptions_;
  bool committed_ = false;
  bool done_ = false;
};

/// What write_through does to the cache after the source write succeeded.
enum class WriteThroughMode {
  update,      ///< store the new value (other instances drop their L1 copy)
  invalidate,  ///< erase the key; the next read loads it
};

/// Write-through: source_write(value) first (the source of truth); if it throws, the cache is
/// untouched and the exception propagates. Then the cache is updated with value under tags
/// (or the key erased, per mode) and `also` is invalidated. On a tiered cache both steps tell
/// the other instances over the bus. Throws argument_error for tags on a backend that is not
/// tag-aware, else what the backend throws.
template <class K, class V, class SourceWrite, class Rep, class Period>
void write_through(Cache<K, V>& cache, const K& key, V value,
                   std::chrono::duration<Rep, Period> ttl, SourceWrite&& source_write,
                   const Tags& tags = {}, WriteThroughMode mode = WriteThroughMode::update,
                   const Invalidation<K>& also = {}) {
  std::invoke(std::forward<SourceWrite>(source_write), std::as_const(value));
  if (mode == WriteThroughMode::invalidate) {
    cache.erase(key);
  } else if (tags.empty()) {
    cache.set(key, std::move(value), ttl);
  } else {
    cache.set(key, std::move(value), ttl, tags);
  }
  invalidate(cache, also);
}

}  // namespace ttlcache

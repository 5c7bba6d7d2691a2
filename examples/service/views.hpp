// The service's endpoints as functions: reads through the cache (or straight from the
// database when it is off), writes to the database then invalidation through the cache.
// SPDX-License-Identifier: MIT
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "cache_setup.hpp"
#include "database.hpp"

namespace service {

/// Search words as a set: lower case (FTS5 folds case), sorted, each once, separated by one
/// space. The words are ANDed, so "Server cache", "cache server" and "cache  cache server" ask
/// the same question. Thread-safety: a pure function.
std::string normalized_query(const std::string& words);

/// An answer, before HTTP.
struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

/// What the service did, for /admin/stats.
struct ViewCounters {
  std::uint64_t reads = 0;       ///< read requests answered (200 or 404)
  std::uint64_t cache_hits = 0;  ///< reads answered from the cache (fresh or within SWR)
  std::uint64_t writes = 0;
};

/// The endpoints. With a cache, each read is a get_or_load of its response body under a key
/// naming the view; writes change the database first and then invalidate what they changed:
/// tags per file and per user, a tag per bookmark list that shows a deleted file (or, when the
/// database cannot tell which, the entity version of every list), and the new file body and
/// its render written through (only when the cache is this process's own, see the
/// constructor). Search results and the public stats are not invalidated: their DynamicTTL
/// lifetime (plus the stale-while-revalidate window) bounds their staleness.
///
/// Thread-safety: every member may be called from any number of threads. Writes to one file
/// are serialised within the process (a striped lock), so that the value written through is
/// the last one.
/// Exceptions: what the database and the cache throw, except a missing row (a 404 response).
class Views {
 public:
  /// cache may be null: the service without a cache, for the baseline. shared: other processes
  /// write the same cache (Redis, tiered). Their edits of a file are not serialised with this
  /// one's, so the write-through of an older version could land after a newer one and stay;
  /// on a shared cache, creates and edits therefore only invalidate the file's tag and let the
  /// next read load it (tag versions are read before the database, so a load that raced the
  /// edit is discarded).
  Views(Database& db, ServiceCache* cache, bool shared = false)
      : db_(db), cache_(cache), write_through_(!shared) {}

  Response file_list(std::int64_t user, int page);
  Response file_content(std::int64_t id);
  /// The file rendered to HTML.
  Response markdown(std::int64_t id);
  Response user_stats(std::int64_t user);
  Response public_stats();
  /// words: ANDed, in any order and case (one cache entry per set of words).
  Response search(const std::string& words);
  Response bookmarks(std::int64_t user);

  Response create_file(std::int64_t owner, const std::string& name, const std::string& language,
                       const std::string& content);
  Response edit_file(std::int64_t id, const std::string& content);
  Response delete_file(std::int64_t id);

  ViewCounters counters() const noexcept {
    return {reads_.load(std::memory_order_relaxed), hits_.load(std::memory_order_relaxed),
            writes_.load(std::memory_order_relaxed)};
  }

  static constexpr int per_page = 20;

 private:
  template <class Loader>
  Response read_tagged(const std::string& key, const char* type, std::int64_t user, Loader&& loader,
                       const std::vector<std::string>& tags, const char* entity = nullptr);
  template <class Loader>
  Response read_bounded(const std::string& key, const char* type, Loader&& loader);
  /// Sets a file's new body (file.dump()) and its render under the file's tag.
  void write_through(std::int64_t id, const nlohmann::json& file, const std::string& body);
  std::mutex& lock_for(std::int64_t file) {
    return write_locks_[static_cast<std::size_t>(file) % write_locks_.size()];
  }

  Database& db_;
  ServiceCache* cache_;
  bool write_through_;
  std::array<std::mutex, 64> write_locks_;
  std::atomic<std::uint64_t> reads_{0};
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> writes_{0};
};

}  // namespace service

// The service's database interface: the seed's queries and writes, answered as JSON documents
// (as the seed's MongoDB did), with a count of queries and the time they took.
// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace service {

/// What the database did: every query and write, and the wall time spent in them.
struct DbCounters {
  std::uint64_t queries = 0;
  std::uint64_t time_us = 0;
};

/// A file for Database::create_files.
struct NewFile {
  std::int64_t owner = 0;
  std::string name;
  std::string language;
  std::string content;
};

/// A bookmark for Database::add_bookmarks.
struct NewBookmark {
  std::int64_t user = 0;
  std::int64_t file = 0;
  std::int64_t at = 0;
};

/// The source of truth. Every call runs real queries (no caching here), so its cost is what
/// the engine really charges.
///
/// Thread-safety: every member may be called from any number of threads at once.
/// Exceptions: std::runtime_error (with the engine's message) when the engine fails; reads of
/// a missing row return nullopt.
class Database {
 public:
  virtual ~Database() = default;

  /// {id, owner, name, language, size, version, updated_at, content}
  virtual std::optional<nlohmann::json> file(std::int64_t id) = 0;
  /// A page of a user's files, newest first: {user, page, per_page, total, files: [...]}.
  virtual nlohmann::json file_list(std::int64_t user, int page, int per_page) = 0;
  /// Aggregates over a user's files: {user, files, bytes, languages: {..}, last_update}.
  virtual nlohmann::json user_stats(std::int64_t user) = 0;
  /// Aggregates over everything: {users, files, bytes, languages: [..], top_users: [..]}.
  virtual nlohmann::json public_stats() = 0;
  /// Full-text search over names and contents: {query, results: [{id, name, owner}]}.
  virtual nlohmann::json search(const std::string& query, int limit) = 0;
  /// A user's bookmarked files, newest bookmark first: {user, files: [{id, name, owner}]}.
  virtual nlohmann::json bookmarks(std::int64_t user) = 0;

  /// The version of a file (nullopt when absent), read directly and not counted: for the
  /// stale-read checker, which must not change the figures it checks.
  virtual std::optional<std::int64_t> file_version(std::int64_t id) = 0;

  /// A new file; returns it as file() would.
  virtual nlohmann::json create_file(std::int64_t owner, const std::string& name,
                                     const std::string& language, const std::string& content) = 0;
  /// Replaces a file's content (version + 1); returns it as file() would, or nullopt when
  /// absent.
  virtual std::optional<nlohmann::json> edit_file(std::int64_t id, const std::string& content) = 0;
  /// The users who bookmarked a file (so that deleting it invalidates only their lists), or
  /// nullopt when the engine does not implement it: the caller then treats every list as
  /// changed. Counted as a query.
  virtual std::optional<std::vector<std::int64_t>> bookmarked_by(std::int64_t /*file*/) {
    return std::nullopt;
  }
  /// Deletes a file and the bookmarks on it; returns its owner, or nullopt when absent.
  virtual std::optional<std::int64_t> delete_file(std::int64_t id) = 0;
  /// Adds a bookmark (no-op when present).
  virtual void add_bookmark(std::int64_t user, std::int64_t file, std::int64_t at) = 0;
  /// Many files or bookmarks at once, for the data generator: the same rows, in the same
  /// order, as one create_file() / add_bookmark() each (which is what these do by default); a
  /// server database saves the round trips.
  virtual void create_files(const std::vector<NewFile>& files) {
    for (const auto& f : files) create_file(f.owner, f.name, f.language, f.content);
  }
  virtual void add_bookmarks(const std::vector<NewBookmark>& bookmarks) {
    for (const auto& b : bookmarks) add_bookmark(b.user, b.file, b.at);
  }
  /// Many rows in one transaction, for the data generator (not counted as queries).
  virtual void begin_bulk() = 0;
  virtual void end_bulk() = 0;
  virtual void add_user(std::int64_t id, const std::string& name) = 0;

  DbCounters counters() const noexcept {
    return {queries_.load(std::memory_order_relaxed), time_us_.load(std::memory_order_relaxed)};
  }

 protected:
  /// Runs fn, counting it as one query with its wall time.
  template <class Fn>
  auto measured(Fn&& fn) {
    struct Count {
      Database& db;
      std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
      ~Count() {
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count();
        db.queries_.fetch_add(1, std::memory_order_relaxed);
        db.time_us_.fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
      }
    } count{*this};
    return std::forward<Fn>(fn)();
  }

 private:
  std::atomic<std::uint64_t> queries_{0};
  std::atomic<std::uint64_t> time_us_{0};
};

}  // namespace service

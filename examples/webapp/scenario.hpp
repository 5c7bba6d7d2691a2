// The web-app scenario's model: a code-snippet service's data, its database and its traffic.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace webapp {

/// What the scenario is asked to run.
struct Settings {
  std::uint32_t users = 1'000;
  std::uint32_t files = 10'000;
  std::uint64_t requests = 3'000'000;  ///< about 35 requests per second over the day
  std::chrono::hours simulated = std::chrono::hours(24);  ///< the requests span this much time
  double write_ratio = 0.02;                              ///< edits, new files, deletes
  double zipf_s = 1.05;                                   ///< popularity skew
  double db_latency_min_ms = 2;
  double db_latency_max_ms = 20;
  std::uint64_t seed = 42;
};

/// Request kinds, each a DynamicTTL content type.
enum class Kind {
  file_content,
  file_list,
  markdown_render,
  user_stats,
  search_results,
  public_stats,
  bookmarks
};
inline const char* content_type(Kind k) {
  switch (k) {
    case Kind::file_content:
      return "file_content";
    case Kind::file_list:
      return "file_list";
    case Kind::markdown_render:
      return "markdown_render";
    case Kind::user_stats:
      return "user_stats";
    case Kind::search_results:
      return "search_results";
    case Kind::public_stats:
      return "public_stats";
    case Kind::bookmarks:
      return "bookmarks";
  }
  return "unknown";
}

/// Zipf(s) sampler over [0, n) by inverse CDF on a precomputed table.
class Zipf {
 public:
  Zipf(std::uint32_t n, double s) : cdf_(n) {
    double sum = 0;
    for (std::uint32_t i = 0; i < n; ++i) cdf_[i] = (sum += 1.0 / std::pow(i + 1.0, s));
    for (auto& c : cdf_) c /= sum;
  }
  template <class Rng>
  std::uint32_t operator()(Rng& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<std::uint32_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

/// A cached value: the payload, the data version it was built from (to detect stale reads) and
/// when it was built (virtual seconds since the start of the day, to measure how stale).
struct Page {
  std::string body;
  std::uint64_t version = 0;
  std::int64_t built_at = 0;
};

/// The simulated database: the source of truth, its versions, and what every query costs.
/// Latency is charged on the virtual clock, never slept, so a day of traffic runs in seconds.
class Database {
 public:
  explicit Database(const Settings& s) : settings_(s), rng_(s.seed ^ 0x9e3779b97f4a7c15ULL) {
    owner_.resize(s.files);
    file_version_.assign(s.files, 1);
    modified_at_.assign(s.files, std::chrono::seconds(-86400 * 30));
    user_version_.assign(s.users, 1);
    std::mt19937_64 r(s.seed);
    for (auto& o : owner_) o = static_cast<std::uint32_t>(r() % s.users);
  }

  // ---- queries: each returns the page and adds its latency to `charged_ms` ----
  Page query(Kind kind, std::uint32_t id, double& charged_ms) {
    ++queries_;
    double lo = settings_.db_latency_min_ms;
    double hi = settings_.db_latency_max_ms;
    // Expensive kinds (aggregates, rendering, search) sit in the upper part of the range.
    const double weight = kind == Kind::file_content || kind == Kind::bookmarks ? 0.2
                          : kind == Kind::file_list                             ? 0.4
                                                                                : 0.8;
    hi = lo + (hi - lo) * weight;
    charged_ms += std::uniform_real_distribution<double>(lo, hi)(rng_);
    const std::uint64_t version = current_version(kind, id);
    return Page{std::string(body_size(kind), 'x'), version};
  }

  /// The version a fresh read of (kind, id) would see now.
  std::uint64_t current_version(Kind kind, std::uint32_t id) const {
    switch (kind) {
      case Kind::file_content:
      case Kind::markdown_render:
        return file_version_[id];
      case Kind::file_list:
      case Kind::user_stats:
      case Kind::bookmarks:
        return user_version_[id];
      case Kind::search_results:
      case Kind::public_stats:
        return global_version_;
    }
    return 0;
  }

  // ---- writes: each returns the owner whose views changed, for the caller to invalidate ----
  /// An edit changes the file, its owner's lists and stats, and what search would find.
  std::uint32_t edit_file(std::uint32_t file, std::chrono::seconds now) {
    ++queries_;
    ++file_version_[file];
    ++user_version_[owner_[file]];
    ++global_version_;
    modified_at_[file] = now;
    return owner_[file];
  }
  /// A new file (of `owner`): changes the owner's lists and stats and the set of files.
  std::uint32_t create_file(std::uint32_t owner) {
    ++queries_;
    ++user_version_[owner];
    ++global_version_;
    return owner;
  }
  /// A deleted file: its content is gone, its owner's views and the set of files change.
  std::uint32_t delete_file(std::uint32_t file) {
    ++queries_;
    ++file_version_[file];
    ++user_version_[owner_[file]];
    ++global_version_;
    return owner_[file];
  }

  std::uint32_t owner(std::uint32_t file) const { return owner_[file]; }
  double hours_since_modified(std::uint32_t file, std::chrono::seconds now) const {
    return std::chrono::duration<double, std::ratio<3600>>(now - modified_at_[file]).count();
  }
  std::uint64_t queries() const { return queries_; }

 private:
  static std::size_t body_size(Kind kind) {
    switch (kind) {
      case Kind::file_content:
        return 4096;
      case Kind::markdown_render:
        return 6144;
      case Kind::file_list:
        return 1024;
      case Kind::search_results:
        return 2048;
      default:
        return 256;
    }
  }

  Settings settings_;
  std::mt19937_64 rng_;
  std::vector<std::uint32_t> owner_;
  std::vector<std::uint64_t> file_version_;
  std::vector<std::chrono::seconds> modified_at_;
  std::vector<std::uint64_t> user_version_;
  std::uint64_t global_version_ = 1;
  std::uint64_t queries_ = 0;
};

/// What a write does to the data.
enum class WriteKind { none, edit, create, remove };

/// One request of the stream: what is read (or written), by whom, when.
struct Request {
  std::chrono::seconds at;
  Kind kind;
  std::uint32_t id;    ///< file id or user id, depending on kind (0 for global kinds)
  std::uint32_t user;  ///< who asks (and, for a new file, its owner)
  WriteKind write = WriteKind::none;
  std::uint32_t query;  ///< search query id
};

/// The request stream, identical for every run with the same settings.
inline std::vector<Request> make_requests(const Settings& s) {
  std::mt19937_64 rng(s.seed);
  Zipf users(s.users, s.zipf_s);
  Zipf files(s.files, s.zipf_s);
  Zipf queries(500, s.zipf_s);
  // Mix of reads: content 35 %, lists 20 %, renders 15 %, stats 10 %, search 10 %,
  // public stats 5 %, bookmarks 5 %.
  std::discrete_distribution<int> kinds({35, 20, 15, 10, 10, 5, 5});
  std::vector<Request> out;
  out.reserve(s.requests);
  const double step = std::chrono::duration<double>(s.simulated).count() / s.requests;
  for (std::uint64_t i = 0; i < s.requests; ++i) {
    Request r{};
    r.at = std::chrono::seconds(static_cast<std::int64_t>(i * step));
    r.user = users(rng);
    r.query = queries(rng);
    if (std::uniform_real_distribution<double>(0, 1)(rng) < s.write_ratio) {
      // Writes: 70 % edits, 20 % new files, 10 % deletes.
      const double w = std::uniform_real_distribution<double>(0, 1)(rng);
      r.write = w < 0.7 ? WriteKind::edit : w < 0.9 ? WriteKind::create : WriteKind::remove;
      r.kind = Kind::file_content;
      r.id = files(rng);
    } else {
      r.kind = static_cast<Kind>(kinds(rng));
      const bool per_file = r.kind == Kind::file_content || r.kind == Kind::markdown_render;
      const bool per_user =
          r.kind == Kind::file_list || r.kind == Kind::user_stats || r.kind == Kind::bookmarks;
      r.id = per_file ? files(rng) : per_user ? users(rng) : 0;
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace webapp

// The load generator's traffic: the seed's request mix with Zipf popularity and ~2 % writes,
// the same stream for the same seed.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loadgen {

enum class Kind {
  file_content,
  markdown,
  file_list,
  user_stats,
  search,
  bookmarks,
  public_stats,
  edit,
  create,
  remove
};
constexpr int kind_count = 10;
const char* kind_name(Kind k);
inline bool is_write(Kind k) { return k == Kind::edit || k == Kind::create || k == Kind::remove; }

/// One request as the client sends it.
struct Request {
  Kind kind = Kind::file_content;
  std::int64_t id = 0;  ///< file or user
  int page = 0;
  std::string text;  ///< search words, or the new content of a write
  std::string method() const;
  std::string path() const;  ///< with the query string, URL-encoded
  std::string body() const;  ///< for POST and PUT
};

/// The data the service generated (same defaults as the service's --users/--files).
struct TrafficOptions {
  std::int64_t users = 300;
  std::int64_t files = 3'000;
  double write_ratio = 0.02;
  double zipf_s = 1.0;
  std::uint64_t seed = 42;
};

/// An endless stream of requests; stream i of a seed is always the same sequence.
/// Not synchronised: one per client thread.
class Traffic {
 public:
  Traffic(const TrafficOptions& options, std::uint64_t stream);
  Request next();
  /// The next read (writes skipped), for the read-only comparisons.
  Request next_read();

 private:
  std::int64_t zipf(const std::vector<double>& cdf);
  TrafficOptions o_;
  std::uint64_t rng_;
  std::vector<double> file_cdf_;
  std::vector<double> user_cdf_;
  std::vector<double> word_cdf_;
};

}  // namespace loadgen

// The seed's traffic mix, drawn from a splitmix64 stream.
// SPDX-License-Identifier: MIT
#include "traffic.hpp"

#include <algorithm>
#include <cmath>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "dataset.hpp"

namespace loadgen {
namespace {

std::vector<double> zipf_cdf(std::int64_t n, double s) {
  std::vector<double> cdf(static_cast<std::size_t>(n));
  double sum = 0;
  for (std::size_t i = 0; i < cdf.size(); ++i) {
    cdf[i] = (sum += 1.0 / std::pow(static_cast<double>(i) + 1.0, s));
  }
  for (auto& c : cdf) c /= sum;
  return cdf;
}

// Reads by share of traffic (per mille of reads), as in the seed's logs.
struct Share {
  Kind kind;
  int per_mille;
};
constexpr Share read_mix[] = {{Kind::file_content, 260}, {Kind::markdown, 150},
                              {Kind::file_list, 220},    {Kind::user_stats, 100},
                              {Kind::search, 100},       {Kind::bookmarks, 110},
                              {Kind::public_stats, 60}};

}  // namespace

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::file_content:
      return "file_content";
    case Kind::markdown:
      return "markdown_render";
    case Kind::file_list:
      return "file_list";
    case Kind::user_stats:
      return "user_stats";
    case Kind::search:
      return "search";
    case Kind::bookmarks:
      return "bookmarks";
    case Kind::public_stats:
      return "public_stats";
    case Kind::edit:
      return "edit";
    case Kind::create:
      return "create";
    case Kind::remove:
      return "delete";
  }
  return "unknown";
}

std::string Request::method() const {
  switch (kind) {
    case Kind::edit:
      return "PUT";
    case Kind::create:
      return "POST";
    case Kind::remove:
      return "DELETE";
    default:
      return "GET";
  }
}

std::string Request::path() const {
  const std::string n = std::to_string(id);
  switch (kind) {
    case Kind::file_content:
    case Kind::edit:
    case Kind::remove:
      return "/api/files/" + n;
    case Kind::markdown:
      return "/api/files/" + n + "/render";
    case Kind::file_list:
      return "/api/users/" + n + "/files?page=" + std::to_string(page);
    case Kind::user_stats:
      return "/api/users/" + n + "/stats";
    case Kind::search:
      return "/api/search?q=" + httplib::detail::encode_query_param(text);
    case Kind::bookmarks:
      return "/api/users/" + n + "/bookmarks";
    case Kind::public_stats:
      return "/api/stats";
    case Kind::create:
      return "/api/users/" + n + "/files";
  }
  return "/";
}

std::string Request::body() const {
  if (kind == Kind::create) {
    return nlohmann::json{{"name", "new_" + std::to_string(page) + ".md"},
                          {"language", "markdown"},
                          {"content", text}}
        .dump();
  }
  return text;
}

Traffic::Traffic(const TrafficOptions& options, std::uint64_t stream)
    : o_(options),
      rng_(options.seed * 0x9e3779b97f4a7c15ULL + stream * 0xd1b54a32d192ed03ULL + 1),
      file_cdf_(zipf_cdf(options.files, options.zipf_s)),
      user_cdf_(zipf_cdf(options.users, options.zipf_s)),
      word_cdf_(zipf_cdf(static_cast<std::int64_t>(service::vocabulary().size()), 0.8)) {}

std::int64_t Traffic::zipf(const std::vector<double>& cdf) {
  const double u = service::next_unit(rng_);
  return 1 + (std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
}

Request Traffic::next() {
  Request r;
  if (service::next_unit(rng_) < o_.write_ratio) {
    // Writes: mostly edits of popular files, some new files, a few deletes.
    const double w = service::next_unit(rng_);
    if (w < 0.6) {
      r.kind = Kind::edit;
      r.id = zipf(file_cdf_);
    } else if (w < 0.85) {
      r.kind = Kind::create;
      r.id = zipf(user_cdf_);
      r.page = static_cast<int>(service::next_random(rng_) % 1'000'000);  // names the file
    } else {
      r.kind = Kind::remove;
      r.id = 1 + static_cast<std::int64_t>(service::next_random(rng_) %
                                           static_cast<std::uint64_t>(o_.files));
      return r;
    }
    r.text = service::make_markdown(
        rng_, static_cast<std::size_t>(300.0 * std::pow(100.0, service::next_unit(rng_))));
    return r;
  }
  return next_read();
}

Request Traffic::next_read() {
  Request r;
  int pick = static_cast<int>(service::next_random(rng_) % 1000);
  r.kind = read_mix[0].kind;
  for (const auto& share : read_mix) {
    if (pick < share.per_mille) {
      r.kind = share.kind;
      break;
    }
    pick -= share.per_mille;
  }
  switch (r.kind) {
    case Kind::file_content:
    case Kind::markdown:
      r.id = zipf(file_cdf_);
      break;
    case Kind::file_list: {
      r.id = zipf(user_cdf_);
      const double p = service::next_unit(rng_);
      r.page = p < 0.7 ? 0 : p < 0.9 ? 1 : 2;
      break;
    }
    case Kind::search: {
      const auto& words = service::vocabulary();
      r.text = words[static_cast<std::size_t>(zipf(word_cdf_) - 1)];
      if (service::next_unit(rng_) < 0.6) {
        r.text += " " + words[static_cast<std::size_t>(zipf(word_cdf_) - 1)];
      }
      break;
    }
    case Kind::public_stats:
      break;
    default:
      r.id = zipf(user_cdf_);
  }
  return r;
}

}  // namespace loadgen

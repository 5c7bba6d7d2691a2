// The web-app scenario: the same day of traffic against a database with no cache and with
// ttlcache, and what the cache changed (what scripts/demo runs).
// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <ttlcache/ttlcache.hpp>

#include "scenario.hpp"

using namespace std::chrono_literals;
using webapp::Kind;
using webapp::Page;

namespace webapp {
void to_json(nlohmann::json& j, const Page& p) { j = {{"body", p.body}, {"version", p.version}}; }
void from_json(const nlohmann::json& j, Page& p) {
  j.at("body").get_to(p.body);
  j.at("version").get_to(p.version);
}
}  // namespace webapp

namespace {

struct RunResult {
  std::string name;
  std::uint64_t reads = 0;
  std::uint64_t hits = 0;
  double mean_ms = 0;
  double p99_ms = 0;
  std::uint64_t db_queries = 0;
  std::uint64_t stale_beyond_bound = 0;  ///< a value older than an invalidated write
  std::uint64_t stale_within_bound = 0;  ///< search/public stats lagging by at most their TTL
  double cache_mb = 0;
  std::size_t cache_entries = 0;
  double seconds = 0;
};

class Progress {
 public:
  Progress(const char* label, std::uint64_t total, bool enabled)
      : label_(label), total_(total), enabled_(enabled && isatty(STDERR_FILENO)) {}
  void update(std::uint64_t done) {
    if (!enabled_ || (done % 4096 != 0 && done != total_)) return;
    const int width = 40;
    const int filled = static_cast<int>(width * done / total_);
    std::fprintf(stderr, "\r%-10s [%.*s%*s] %3d%%", label_, filled,
                 "########################################", width - filled, "",
                 static_cast<int>(100 * done / total_));
    if (done == total_) std::fprintf(stderr, "\n");
  }

 private:
  const char* label_;
  std::uint64_t total_;
  bool enabled_;
};

void summarise(RunResult& r, std::vector<float>& latencies) {
  r.reads = latencies.size();
  r.mean_ms = std::accumulate(latencies.begin(), latencies.end(), 0.0) /
              static_cast<double>(latencies.size());
  auto p99 = latencies.begin() + static_cast<std::ptrdiff_t>(latencies.size() * 99 / 100);
  std::nth_element(latencies.begin(), p99, latencies.end());
  r.p99_ms = *p99;
}

std::string key_for(const webapp::Request& r) {
  switch (r.kind) {
    case Kind::search_results:
      return ttlcache::make_key("search_results", r.query);
    case Kind::public_stats:
      return ttlcache::make_key("public_stats");
    default:
      return ttlcache::make_key(webapp::content_type(r.kind), r.id);
  }
}

// What the service knows about a request, for DynamicTTL.
ttlcache::Context context_for(const webapp::Request& r, const webapp::Database& db) {
  ttlcache::Context ctx;
  const bool per_file = r.kind == Kind::file_content || r.kind == Kind::markdown_render;
  if (per_file) {
    ctx.set("is_favorite", (r.user * 31 + r.id) % 10 == 0);
    ctx.set("last_modified_hours_ago", db.hours_since_modified(r.id, r.at));
    if (r.id < 100) ctx.set("access_frequency", "high");
  }
  if (r.user % 10 == 0) ctx.set("user_tier", "premium");
  return ctx;
}

// Carries out a write on the database; returns the owner whose views it changed.
std::uint32_t apply_write(webapp::Database& db, const webapp::Request& req) {
  switch (req.write) {
    case webapp::WriteKind::create:
      return db.create_file(req.user);
    case webapp::WriteKind::remove:
      return db.delete_file(req.id);
    default:
      return db.edit_file(req.id, req.at);
  }
}

// What a read's cached value depends on: per-file views carry the file's tag, per-user views
// the owner's tag, search results the "search" entity version (bumped when files come or go).
ttlcache::Tags tags_for(const webapp::Request& r, const webapp::Database& db) {
  switch (r.kind) {
    case Kind::file_content:
    case Kind::markdown_render:
      return ttlcache::Tags{ttlcache::make_key("file", r.id)};
    case Kind::file_list:
    case Kind::user_stats:
    case Kind::bookmarks:
      return ttlcache::Tags{ttlcache::make_key("user", r.id)};
    case Kind::search_results:
      return ttlcache::Tags{}.entity("search");
    case Kind::public_stats:
      break;
  }
  (void)db;
  return ttlcache::Tags{};
}

RunResult run_without_cache(const webapp::Settings& s, const std::vector<webapp::Request>& reqs,
                            bool progress) {
  webapp::Database db(s);
  RunResult r{"no cache"};
  std::vector<float> latencies;
  latencies.reserve(reqs.size());
  Progress bar("no cache", reqs.size(), progress);
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    const auto& req = reqs[i];
    if (req.write != webapp::WriteKind::none) {
      apply_write(db, req);
    } else {
      double charged = 0;
      db.query(req.kind, req.kind == Kind::search_results ? req.query : req.id, charged);
      latencies.push_back(static_cast<float>(charged));
    }
    bar.update(i + 1);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.db_queries = db.queries();
  summarise(r, latencies);
  return r;
}

RunResult run_with_cache(const webapp::Settings& s, const std::vector<webapp::Request>& reqs,
                         bool progress) {
  webapp::Database db(s);
  // Virtual time: the day starts at 00:00 UTC and advances with the requests.
  auto clock = std::make_shared<ttlcache::FakeClock>(
      std::chrono::system_clock::time_point(std::chrono::seconds(1767225600)));  // 2026-01-01
  auto policy_config = ttlcache::DynamicTtlConfig::defaults();
  policy_config.utc_offset = std::chrono::minutes(0);
  policy_config.seed = s.seed;

  // A tag-aware in-process backend: entries carry tags and entity versions.
  ttlcache::MemoryOptions<std::string, ttlcache::Tagged<Page>> memory;
  memory.max_entries = 100'000;
  memory.clock = clock;
  memory.weigher = [](const std::string& k, const ttlcache::Tagged<Page>& t) {
    return k.size() + t.value.body.size();
  };
  ttlcache::CacheOptions options;
  options.name = "webapp";
  options.ttl_policy = std::make_shared<ttlcache::DynamicTTL>(policy_config, clock);
  ttlcache::Cache<std::string, Page> cache(
      ttlcache::make_tagged_memory_backend<std::string, Page>(memory), options);
  auto policy = options.ttl_policy;

  RunResult r{"ttlcache"};
  std::vector<float> latencies;
  latencies.reserve(reqs.size());
  Progress bar("ttlcache", reqs.size(), progress);
  auto now = 0s;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    const auto& req = reqs[i];
    clock->advance(req.at - now);
    now = req.at;
    if (req.write != webapp::WriteKind::none) {
      // Source of truth first, then invalidate what changed: O(1) per tag, on every instance.
      const std::uint32_t owner = apply_write(db, req);
      std::vector<std::string> stale = {ttlcache::make_key("user", owner)};
      if (req.write != webapp::WriteKind::create)
        stale.push_back(ttlcache::make_key("file", req.id));
      cache.invalidate_tags(stale);
      if (req.write != webapp::WriteKind::edit) cache.bump_version("search");
    } else {
      const std::uint32_t id = req.kind == Kind::search_results ? req.query : req.id;
      double charged = 0;
      const auto t0 = std::chrono::steady_clock::now();
      const char* type = webapp::content_type(req.kind);
      const Page page = cache.get_or_load(
          key_for(req), [&] { return db.query(req.kind, id, charged); },
          policy->ttl_for(type, context_for(req, db)), tags_for(req, db));
      const double cache_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      latencies.push_back(static_cast<float>(charged + cache_ms));
      if (charged == 0) ++r.hits;
      if (page.version != db.current_version(req.kind, id)) {
        const bool bounded = req.kind == Kind::search_results || req.kind == Kind::public_stats;
        ++(bounded ? r.stale_within_bound : r.stale_beyond_bound);
      }
    }
    bar.update(i + 1);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.db_queries = db.queries();
  // Memory: value and key bytes, plus the backend's per-entry overhead (~100 bytes, see
  // docs/performance.md).
  const auto stats = cache.stats();
  r.cache_entries = stats.entries.value_or(0);
  r.cache_mb = (static_cast<double>(stats.weight_bytes.value_or(0)) +
                100.0 * static_cast<double>(r.cache_entries)) /
               1e6;
  summarise(r, latencies);
  return r;
}

double reduction(double before, double after) { return before > 0 ? 1 - after / before : 0; }

int usage() {
  std::fprintf(stderr,
               "usage: webapp [--requests N] [--users N] [--files N] [--writes RATIO]\n"
               "              [--db-latency MIN_MS MAX_MS] [--seed N] [--json] [--check]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  webapp::Settings s;
  bool json = false;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--json") {
      json = true;
    } else if (a == "--check") {
      check = true;
    } else if (a == "--requests" && (v = next())) {
      s.requests = std::stoull(v);
    } else if (a == "--users" && (v = next())) {
      s.users = static_cast<std::uint32_t>(std::stoul(v));
    } else if (a == "--files" && (v = next())) {
      s.files = static_cast<std::uint32_t>(std::stoul(v));
    } else if (a == "--writes" && (v = next())) {
      s.write_ratio = std::stod(v);
    } else if (a == "--seed" && (v = next())) {
      s.seed = std::stoull(v);
    } else if (a == "--db-latency" && i + 2 < argc) {
      s.db_latency_min_ms = std::stod(argv[++i]);
      s.db_latency_max_ms = std::stod(argv[++i]);
    } else {
      return usage();
    }
  }
  if (s.requests == 0 || s.users == 0 || s.files == 0 || s.db_latency_min_ms < 0 ||
      s.db_latency_max_ms < s.db_latency_min_ms) {
    return usage();
  }

  const auto reqs = webapp::make_requests(s);
  const RunResult base = run_without_cache(s, reqs, !json);
  const RunResult cached = run_with_cache(s, reqs, !json);

  const double hit_rate = static_cast<double>(cached.hits) / static_cast<double>(cached.reads);
  const double mean_cut = reduction(base.mean_ms, cached.mean_ms);
  const double p99_cut = reduction(base.p99_ms, cached.p99_ms);
  const double query_cut =
      reduction(static_cast<double>(base.db_queries), static_cast<double>(cached.db_queries));
  const bool ok = hit_rate > 0.80 && mean_cut >= 0.70 && p99_cut >= 0.70 && query_cut >= 0.60 &&
                  cached.stale_beyond_bound == 0 && cached.cache_mb < 500;

  if (json) {
    auto run = [](const RunResult& r) {
      return nlohmann::json{{"reads", r.reads},
                            {"hits", r.hits},
                            {"mean_ms", r.mean_ms},
                            {"p99_ms", r.p99_ms},
                            {"db_queries", r.db_queries},
                            {"stale_beyond_bound", r.stale_beyond_bound},
                            {"stale_within_bound", r.stale_within_bound},
                            {"cache_mb", r.cache_mb},
                            {"cache_entries", r.cache_entries},
                            {"seconds", r.seconds}};
    };
    nlohmann::json out = {{"settings",
                           {{"requests", s.requests},
                            {"users", s.users},
                            {"files", s.files},
                            {"write_ratio", s.write_ratio},
                            {"simulated_hours", s.simulated.count()},
                            {"db_latency_ms", {s.db_latency_min_ms, s.db_latency_max_ms}},
                            {"seed", s.seed}}},
                          {"no_cache", run(base)},
                          {"ttlcache", run(cached)},
                          {"hit_rate", hit_rate},
                          {"mean_reduction", mean_cut},
                          {"p99_reduction", p99_cut},
                          {"query_reduction", query_cut},
                          {"targets_met", ok}};
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    const char* yes = "met";
    const char* no = "MISSED";
    std::printf(
        "\nA code-snippet web service, one simulated day: %llu requests (%.0f %% writes),\n"
        "%u users, %u files, Zipf(%.2f) popularity, database queries %.0f-%.0f ms.\n"
        "Lifetimes from DynamicTTL (content type, context, hour); writes invalidate by tags and\n"
        "entity versions.\n\n",
        static_cast<unsigned long long>(s.requests), 100 * s.write_ratio, s.users, s.files,
        s.zipf_s, s.db_latency_min_ms, s.db_latency_max_ms);
    std::printf("%-26s %14s %14s %12s   %s\n", "", "no cache", "ttlcache", "change", "target");
    std::printf("%-26s %14s %13.1f%% %12s   > 80 %%  %s\n", "hit rate", "-", 100 * hit_rate, "",
                hit_rate > 0.80 ? yes : no);
    std::printf("%-26s %11.2f ms %11.2f ms %11.1f%%   >= 70 %% less  %s\n", "mean response",
                base.mean_ms, cached.mean_ms, -100 * mean_cut, mean_cut >= 0.70 ? yes : no);
    std::printf("%-26s %11.2f ms %11.2f ms %11.1f%%   >= 70 %% less  %s\n", "p99 response",
                base.p99_ms, cached.p99_ms, -100 * p99_cut, p99_cut >= 0.70 ? yes : no);
    std::printf("%-26s %14llu %14llu %11.1f%%   >= 60 %% less  %s\n", "database queries",
                static_cast<unsigned long long>(base.db_queries),
                static_cast<unsigned long long>(cached.db_queries), -100 * query_cut,
                query_cut >= 0.60 ? yes : no);
    std::printf("%-26s %14s %14llu %12s   0  %s\n", "stale reads beyond bound", "-",
                static_cast<unsigned long long>(cached.stale_beyond_bound), "",
                cached.stale_beyond_bound == 0 ? yes : no);
    std::printf("%-26s %14s %14llu %12s   (search, public stats: at most their TTL old)\n",
                "stale reads within bound", "-",
                static_cast<unsigned long long>(cached.stale_within_bound), "");
    std::printf("%-26s %14s %11.1f MB %12s   < 500 MB  %s\n", "cache memory", "-", cached.cache_mb,
                "", cached.cache_mb < 500 ? yes : no);
    std::printf(
        "\n(%zu entries cached; ran in %.1f s + %.1f s of real time. Database latency is\n"
        "simulated on a virtual clock; cache operations are timed for real.)\n",
        cached.cache_entries, base.seconds, cached.seconds);
  }
  return check && !ok ? 1 : 0;
}

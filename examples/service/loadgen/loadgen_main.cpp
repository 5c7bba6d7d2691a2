// ttlcache_loadgen: starts the service without and with the cache, plays the same request
// stream against both and prints the KPIs (or, with --check, asserts correctness: same bodies
// with and without the cache, no stale read, writes visible once they return).
// SPDX-License-Identifier: MIT
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#ifdef TTLCACHE_SERVICE_POSTGRES
#include "postgres_database.hpp"
#endif
#include "load_run.hpp"
#include "report.hpp"
#include "service_process.hpp"
#include "traffic.hpp"
#include "views.hpp"  // normalized_query: the search key as the service forms it

namespace {

struct Options {
  std::string service;
  std::string database = "sqlite";  ///< "sqlite" or "postgres" (on the server at pg_url)
  std::string pg_url;
  std::string topology = "in-process";
  std::string redis_url;
  double duration_s = 20;
  double warmup_s = 10;
  double rate = 60;
  int threads = 8;
  bool saturation = false;
  bool json = false;
  bool check = false;
  bool progress = true;
  int attach_port = 0;         ///< play against a service already running there (no comparison)
  bool ceiling = false;        ///< only compute the first-read ceiling of the request stream
  bool adaptive_ttl = false;   // --adaptive-ttl: the cached service runs with adaptive TTL on
  double bus_bound_ms = 2000;  ///< tiered: another instance's write reaches this one by then
  loadgen::TrafficOptions traffic;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "ttlcache_loadgen: %s\n"
               "usage: ttlcache_loadgen --service PATH [--duration SECONDS] [--warmup SECONDS]\n"
               "       [--rate REQ_PER_S]\n"
               "       [--threads N] [--saturation] [--db sqlite|postgres:URL|postgres]\n"
               "       [--pg-url URL]\n"
               "       [--topology in-process|redis|tiered] [--redis URL]\n"
               "       [--users N] [--files N] [--seed N] [--json] [--check] [--quiet]\n"
               "       [--adaptive-ttl] [--bus-bound-ms MS]\n"
               "   or: ttlcache_loadgen --attach PORT [--duration S] [--rate R] [--threads N]\n"
               "       [--users N] [--files N] [--seed N] [--json] [--quiet]\n"
               "   or: ttlcache_loadgen --ceiling [--duration S] [--warmup S] [--rate R]\n"
               "       [--threads N] [--users N] [--files N] [--seed N]\n",
               why.c_str());
  std::exit(2);
}

double number(const std::string& flag, const char* text, double lo, double hi) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (!end || *end != '\0' || !(v >= lo && v <= hi)) {
    usage(flag + ": expected a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
          "], got '" + text + "'");
  }
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") {
      o.json = true;
      continue;
    }
    if (a == "--check") {
      o.check = true;
      continue;
    }
    if (a == "--saturation") {
      o.saturation = true;
      continue;
    }
    if (a == "--quiet") {
      o.progress = false;
      continue;
    }
    if (a == "--ceiling") {
      o.ceiling = true;
      continue;
    }
    if (a == "--adaptive-ttl") {
      o.adaptive_ttl = true;
      continue;
    }
    if (i + 1 >= argc) usage("missing value after " + a);
    const char* v = argv[++i];
    if (a == "--service") {
      o.service = v;
    } else if (a == "--db") {
      o.database = v;
      if (o.database.rfind("postgres:", 0) == 0) {
        o.pg_url = o.database.substr(std::strlen("postgres:"));
        o.database = "postgres";
      }
      if (o.database != "sqlite" && o.database != "postgres") {
        usage("--db: sqlite, postgres:URL or postgres (with --pg-url URL)");
      }
#ifndef TTLCACHE_SERVICE_POSTGRES
      if (o.database == "postgres")
        usage("--db postgres: built with TTLCACHE_SERVICE_POSTGRES=OFF");
#endif
    } else if (a == "--pg-url") {
      o.pg_url = v;
    } else if (a == "--topology") {
      o.topology = v;
      if (o.topology != "in-process" && o.topology != "redis" && o.topology != "tiered") {
        usage("--topology: in-process, redis or tiered");
      }
    } else if (a == "--redis") {
      o.redis_url = v;
    } else if (a == "--duration") {
      o.duration_s = number(a, v, 1, 3600);
    } else if (a == "--warmup") {
      o.warmup_s = number(a, v, 0, 3600);
    } else if (a == "--rate") {
      o.rate = number(a, v, 0, 1e6);
    } else if (a == "--threads") {
      o.threads = static_cast<int>(number(a, v, 1, 256));
    } else if (a == "--users") {
      o.traffic.users = static_cast<std::int64_t>(number(a, v, 1, 1e7));
    } else if (a == "--files") {
      o.traffic.files = static_cast<std::int64_t>(number(a, v, 1, 1e7));
    } else if (a == "--seed") {
      o.traffic.seed = static_cast<std::uint64_t>(number(a, v, 0, 1e15));
    } else if (a == "--bus-bound-ms") {
      o.bus_bound_ms = number(a, v, 0, 600'000);
    } else if (a == "--attach") {
      o.attach_port = static_cast<int>(number(a, v, 1, 65535));
    } else {
      usage("unknown option " + a);
    }
  }
  if (o.service.empty() && o.attach_port == 0 && !o.ceiling) {
    usage("--service PATH (or --attach PORT, or --ceiling) is required");
  }
  if (o.topology != "in-process" && o.redis_url.empty()) {
    usage("--topology " + o.topology + " needs --redis redis://127.0.0.1:PORT/DB");
  }
  return o;
}

/// A temporary directory for a SQLite file that two instances share.
class SharedDir {
 public:
  SharedDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/ttlcache-loadgen-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary directory");
    path_ = pattern;
  }
  ~SharedDir() {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::remove((file() + suffix).c_str());
    }
    rmdir(path_.c_str());
  }
  SharedDir(const SharedDir&) = delete;
  SharedDir& operator=(const SharedDir&) = delete;
  std::string file() const { return path_ + "/service.db"; }

 private:
  std::string path_;
};

#ifdef TTLCACHE_SERVICE_POSTGRES
/// A database of its own per run on the PostgreSQL server, dropped after it: runs (and tests
/// running in parallel against one server) never share tables.
class ScratchDatabase {
 public:
  ScratchDatabase(std::string server, std::string name)
      : server_(std::move(server)), name_(std::move(name)) {
    service::postgres_create_database(server_, name_);
  }
  ~ScratchDatabase() {
    try {
      service::postgres_drop_database(server_, name_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ttlcache_loadgen: %s\n", e.what());
    }
  }
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;
  std::string conninfo() const { return service::postgres_with_database(server_, name_); }

 private:
  std::string server_;
  std::string name_;
};
#endif

/// The instances of one run: one, or (tiered) two processes sharing the database (a SQLite
/// file or a PostgreSQL database) and, with the cache, Redis and the invalidation channel.
/// Stopped when destroyed.
class Deployment {
 public:
  Deployment(const Options& o, bool cache) {
    static int runs = 0;
    // A namespace of its own per run: no run sees another's keys or tag versions.
    const std::string ns = "svc-" + std::to_string(getpid()) + "-" + std::to_string(++runs);
    const int instances = o.topology == "tiered" ? 2 : 1;
    std::string database = o.database;
#ifdef TTLCACHE_SERVICE_POSTGRES
    if (o.database == "postgres") {
      pg_ = std::make_unique<ScratchDatabase>(
          o.pg_url, "ttlcache_svc_" + std::to_string(getpid()) + "_" + std::to_string(runs));
      database = "postgres:" + pg_->conninfo();
    }
#endif
    if (instances > 1 && o.database == "sqlite") {
      dir_ = std::make_unique<SharedDir>();
      database = "sqlite:" + dir_->file();
    }
    processes_.reserve(static_cast<std::size_t>(instances));
    ports_.reserve(static_cast<std::size_t>(instances));
    for (int i = 0; i < instances; ++i) {
      std::vector<std::string> args = {"--cache", cache ? "on" : "off",
                                       "--users", std::to_string(o.traffic.users),
                                       "--files", std::to_string(o.traffic.files),
                                       "--seed",  std::to_string(o.traffic.seed)};
      args.insert(args.end(), {"--db", database});
      if (i > 0) args.insert(args.end(), {"--generate", "off"});
      if (cache && o.adaptive_ttl) args.insert(args.end(), {"--adaptive-ttl", "on"});
      if (cache && o.topology != "in-process") {
        args.insert(args.end(),
                    {"--topology", o.topology, "--redis", o.redis_url, "--namespace", ns});
      }
      processes_.push_back(std::make_unique<loadgen::ServiceProcess>(o.service, args));
      ports_.push_back(processes_.back()->port());
    }
  }
  const std::vector<int>& ports() const { return ports_; }
  /// true when every instance exited cleanly.
  bool stop() {
    bool ok = true;
    for (auto& p : processes_) ok = p->stop() == 0 && ok;
    return ok;
  }

 private:
#ifdef TTLCACHE_SERVICE_POSTGRES
  std::unique_ptr<ScratchDatabase> pg_;  // outlives the processes (declared first)
#endif
  std::unique_ptr<SharedDir> dir_;  // outlives the processes (declared first)
  std::vector<std::unique_ptr<loadgen::ServiceProcess>> processes_;
  std::vector<int> ports_;
};

loadgen::RunFigures measure(const Options& o, bool cache, double rate, const char* label) {
  Deployment d(o, cache);
  loadgen::RunOptions run;
  run.label = label;
  run.ports = d.ports();
  run.threads = o.threads;
  run.rate = rate;
  run.duration = std::chrono::milliseconds(static_cast<long long>(o.duration_s * 1000));
  run.warmup = std::chrono::milliseconds(static_cast<long long>(o.warmup_s * 1000));
  run.progress = o.progress;
  run.traffic = o.traffic;
  run.cross_instance_bound = std::chrono::milliseconds(std::llround(o.bus_bound_ms));
  auto f = loadgen::run_load(run);
  if (!d.stop()) {
    throw std::runtime_error(std::string(label) + ": the service did not stop cleanly");
  }
  return f;
}

int compare(const Options& o) {
  loadgen::Comparison c;
  c.settings = {{"database", o.database},
                {"topology", o.topology},
                {"duration_s", o.duration_s},
                {"warmup_s", o.warmup_s},
                {"rate_rps", o.rate},
                {"threads", o.threads},
                {"users", o.traffic.users},
                {"files", o.traffic.files},
                {"seed", o.traffic.seed},
                {"write_ratio", o.traffic.write_ratio},
                {"stale_rule",
                 "a sampled read is stale if older than a write of its file that had returned "
                 "before it was sent: on the same instance at once, on another after " +
                     std::to_string(std::llround(o.bus_bound_ms)) +
                     " ms (the bus); older only than writes still in flight: overlapped"},
                {"cache", (o.topology == "in-process" ? std::string("in-process, 256 MiB")
                           : o.topology == "redis"
                               ? std::string("Redis")
                               : std::string("two instances, L1 64 MiB + Redis, pub/sub")) +
                              "; tags; DynamicTTL shipped defaults, but 1800 s for the "
                              "tag-invalidated file_list, user_stats and bookmarks; "
                              "refresh-ahead at 0.8; "
                              "stale-while-revalidate 30 s; fail-safe"}};
  c.off = measure(o, false, o.rate, "no cache");
  c.on = measure(o, true, o.rate, "ttlcache");
  if (o.saturation) {
    c.off_saturated = measure(o, false, 0, "no cache, saturated");
    c.on_saturated = measure(o, true, 0, "ttlcache, saturated");
  }
  if (o.json) {
    std::printf("%s\n", loadgen::kpi_json(c).dump(2).c_str());
  } else {
    print_kpis(stdout, c);
  }
  for (const auto* f : {&c.off, &c.on}) {
    if (f->errors)
      std::fprintf(stderr, "%s: %llu errors, first: %s\n", f->label.c_str(),
                   static_cast<unsigned long long>(f->errors), f->first_error.c_str());
  }
  // Reads racing another instance's invalidation message within the bound count as lagging,
  // not stale: a stale read is an error on every topology.
  std::uint64_t stale = c.off.stale_reads + c.on.stale_reads;
  for (const auto* f : {&c.off_saturated, &c.on_saturated}) {
    if (*f) stale += (*f)->stale_reads;
  }
  if (stale) std::fprintf(stderr, "%llu stale reads\n", static_cast<unsigned long long>(stale));
  return c.off.errors + c.on.errors == 0 && stale == 0 && c.on.writes_not_visible == 0 ? 0 : 1;
}

// ---- --check ----

std::vector<std::pair<int, std::string>> fetch_all(int port,
                                                   const std::vector<loadgen::Request>& reqs) {
  httplib::Client http("127.0.0.1", port);
  http.set_keep_alive(true);
  http.set_tcp_nodelay(true);
  http.set_read_timeout(std::chrono::seconds(30));
  std::vector<std::pair<int, std::string>> out;
  out.reserve(reqs.size());
  for (const auto& r : reqs) {
    auto res = http.Get(r.path());
    out.emplace_back(res ? res->status : -1, res ? res->body : httplib::to_string(res.error()));
  }
  return out;
}

int check(const Options& o) {
  int failures = 0;
  const auto fail = [&](const std::string& what) {
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
    ++failures;
  };
  // 1. The same read-only requests give the same bodies without and with the cache, both
  // when the cache loads them and when it serves them.
  loadgen::Traffic traffic(o.traffic, 999);
  std::vector<loadgen::Request> reads;
  reads.reserve(400);
  for (int i = 0; i < 400; ++i) reads.push_back(traffic.next_read());
  std::vector<std::pair<int, std::string>> off;
  {
    Deployment d(o, false);
    off = fetch_all(d.ports().front(), reads);
  }
  // Tiered: the first instance loads, the second answers the second pass (from Redis).
  Deployment svc(o, true);
  const auto first = fetch_all(svc.ports().front(), reads);
  const auto before = loadgen::server_counters(svc.ports());
  const auto second = fetch_all(svc.ports().back(), reads);
  const auto after = loadgen::server_counters(svc.ports());
  for (std::size_t i = 0; i < reads.size(); ++i) {
    if (off[i].first != 200 && off[i].first != 404) {
      fail("cache off: " + reads[i].path() + " answered " + std::to_string(off[i].first));
    }
    for (int pass = 0; pass < 2; ++pass) {
      const auto& got = (pass == 0 ? first : second)[i];
      if (got != off[i]) {
        fail("cache on (" + std::string(pass == 0 ? "loading" : "hitting") + ") answers " +
             reads[i].path() + " differently: " + std::to_string(got.first) + " " +
             got.second.substr(0, 300) + "\n  cache off: " + std::to_string(off[i].first) + " " +
             off[i].second.substr(0, 300));
        break;
      }
    }
  }
  const auto hits =
      after["cache_hits"].get<std::uint64_t>() - before["cache_hits"].get<std::uint64_t>();
  const auto served = after["reads"].get<std::uint64_t>() - before["reads"].get<std::uint64_t>();
  // Every key of the second pass was loaded by the first (a 404 is never cached).
  std::size_t found = 0;
  for (const auto& r : off) found += r.first == 200 ? 1 : 0;
  if (served != reads.size() || hits < found) {
    fail("second pass: " + std::to_string(hits) + " hits of " + std::to_string(served) +
         " reads; expected at least " + std::to_string(found) + " (the cache is not in use)");
  }
  std::fprintf(stderr,
               "same bodies: %zu read requests, cache off vs cache on (load, then %llu hits)\n",
               reads.size(), static_cast<unsigned long long>(hits));

  // 2. Mixed traffic with many writes on the cached service: every sampled read at least as new
  // as the database before it, every write visible when it returns.
  loadgen::RunOptions run;
  run.label = "check";
  run.ports = svc.ports();
  run.threads = o.threads;
  run.rate = 0;
  run.duration = std::chrono::milliseconds(static_cast<long long>(o.duration_s * 1000));
  run.sample_ratio = 0.5;
  run.progress = o.progress;
  run.traffic = o.traffic;
  run.cross_instance_bound = std::chrono::milliseconds(std::llround(o.bus_bound_ms));
  run.traffic.write_ratio = 0.2;  // many more writes than the seed, to find races
  const auto f = loadgen::run_load(run);
  std::fprintf(
      stderr,
      "mixed run: %llu requests, %llu writes read back, %llu reads sampled: %llu stale, "
      "%llu overlapped an edit in flight, %llu lagging another instance's edit by less "
      "than %.0f ms\n",
      static_cast<unsigned long long>(f.requests), static_cast<unsigned long long>(f.write_checks),
      static_cast<unsigned long long>(f.sampled), static_cast<unsigned long long>(f.stale_reads),
      static_cast<unsigned long long>(f.overlapped), static_cast<unsigned long long>(f.lagging),
      o.bus_bound_ms);
  if (f.errors) fail(std::to_string(f.errors) + " errors; first: " + f.first_error);
  // Stale: older than a write that had returned before the read was sent, on the same instance
  // (invalidation and write-through are synchronous there), or on another instance at least
  // the bus bound earlier (its L1 drops a copy when the pub/sub message arrives).
  if (f.stale_reads) {
    fail(std::to_string(f.stale_reads) + " stale reads; first: " + f.first_error);
  }
  if (svc.ports().size() > 1) {
    // And once the load stops, both instances agree with the database after the bound.
    std::this_thread::sleep_for(std::chrono::milliseconds(std::llround(o.bus_bound_ms)));
    std::size_t differ = 0;
    for (int port : svc.ports()) {
      httplib::Client http("127.0.0.1", port);
      http.set_keep_alive(true);
      http.set_tcp_nodelay(true);
      for (std::int64_t id = 1; id <= 100; ++id) {
        const auto db =
            loadgen::get_json(port, "/admin/db/files/" + std::to_string(id) + "/version")["version"]
                .get<std::int64_t>();
        auto res = http.Get("/api/files/" + std::to_string(id));
        const std::int64_t got =
            res && res->status == 200
                ? nlohmann::json::parse(res->body)["version"].get<std::int64_t>()
                : 0;
        if (got != db) ++differ;
      }
    }
    if (differ)
      fail(std::to_string(differ) + " of the 100 hottest files differ from the database " +
           std::to_string(std::llround(o.bus_bound_ms)) + " ms after the load");
  }
  if (f.writes_not_visible) {
    fail(std::to_string(f.writes_not_visible) + " writes not visible; first: " + f.first_error);
  }
  if (f.sampled < 10 || f.write_checks < 10) fail("too few checks to mean anything");
  if (f.cache_hits == 0) fail("no cache hit in the mixed run");
  if (!svc.stop()) fail("the service did not stop cleanly");
  if (failures == 0) std::fprintf(stderr, "service check passed\n");
  return failures == 0 ? 0 : 1;
}

// ---- --attach ----

// One run against a service someone else started (e.g. to watch its dashboard under load):
// no comparison, no stopping it.
int attach(const Options& o) {
  loadgen::RunOptions run;
  run.label = "attached";
  run.ports = {o.attach_port};
  run.threads = o.threads;
  run.rate = o.rate;
  run.duration = std::chrono::milliseconds(static_cast<long long>(o.duration_s * 1000));
  run.warmup = std::chrono::milliseconds(static_cast<long long>(o.warmup_s * 1000));
  run.progress = o.progress;
  run.traffic = o.traffic;
  const auto f = loadgen::run_load(run);
  std::printf("%s\n", f.to_json().dump(o.json ? 2 : -1).c_str());
  if (f.errors)
    std::fprintf(stderr, "%llu errors, first: %s\n", static_cast<unsigned long long>(f.errors),
                 f.first_error.c_str());
  return f.errors == 0 && f.stale_reads == 0 && f.writes_not_visible == 0 ? 0 : 1;
}

// ---- --ceiling ----

// The hit rate of a cache that never expires, evicts or invalidates, on the exact request
// stream a run plays (thread i's stream, in the order run_load schedules them): every read of a
// key not read before is a miss, whatever the cache. An upper bound for the measured hit rate.
int ceiling(const Options& o) {
  std::vector<loadgen::Traffic> streams;
  streams.reserve(static_cast<std::size_t>(o.threads));
  for (int t = 0; t < o.threads; ++t) {
    streams.emplace_back(o.traffic, static_cast<std::uint64_t>(t));
  }
  const auto per_thread = [&](double seconds) {
    return std::llround(seconds * o.rate / o.threads);
  };
  const long long warm = per_thread(o.warmup_s);
  const long long total = warm + per_thread(o.duration_s);
  std::set<std::string> seen;
  std::uint64_t reads = 0, first = 0;
  for (long long i = 0; i < total; ++i) {
    for (auto& stream : streams) {
      const loadgen::Request r = stream.next();
      if (loadgen::is_write(r.kind)) continue;
      // The view's key: search words as the service normalises them.
      std::string key = std::string(loadgen::kind_name(r.kind)) + "/" + std::to_string(r.id) + "/" +
                        std::to_string(r.page) + "/" + service::normalized_query(r.text);
      const bool new_key = seen.insert(std::move(key)).second;
      if (i < warm) continue;
      ++reads;
      first += new_key ? 1 : 0;
    }
  }
  const double hit_ceiling =
      reads ? 1.0 - static_cast<double>(first) / static_cast<double>(reads) : 0.0;
  const nlohmann::json out{{"measured_reads", reads},
                           {"first_reads", first},
                           {"distinct_keys", seen.size()},
                           {"hit_rate_ceiling", hit_ceiling}};
  std::printf("%s\n", out.dump(o.json ? 2 : -1).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    if (o.ceiling) return ceiling(o);
    if (o.attach_port != 0) return attach(o);
    return o.check ? check(o) : compare(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ttlcache_loadgen: %s\n", e.what());
    return 1;
  }
}

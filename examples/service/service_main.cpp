// ttlcache_service: the code-snippet web service on a real database, with or without the cache.
// Prints "listening on 127.0.0.1:<port>" once the data is generated and it accepts requests;
// stops on SIGTERM or SIGINT.
// SPDX-License-Identifier: MIT
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <ttlcache/metrics_export.hpp>

#include "cache_setup.hpp"
#include "dataset.hpp"
#include "http_routes.hpp"
#ifdef TTLCACHE_SERVICE_POSTGRES
#include "postgres_database.hpp"
#endif
#include "sqlite_database.hpp"
#include "views.hpp"

namespace {

struct Options {
  bool cache = true;
  std::string database = "sqlite";  ///< "sqlite" (a temporary file), "sqlite:<path>", "postgres"
  std::string pg_url;               ///< with "postgres": a libpq connection string
  bool adaptive_ttl = false;        // --adaptive-ttl on: DynamicTTL learns (issue 18)
  int port = 0;                     ///< 0: a free port
  int threads = 16;
  int connections = 8;
  bool generate = true;  ///< false: the database already holds the data (a second instance)
  std::string topology = "in-process";
  std::string redis_url;
  std::string key_namespace = "service";
  service::DatasetOptions data;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "ttlcache_service: %s\n"
               "usage: ttlcache_service [--cache on|off] [--db sqlite[:PATH]|postgres[:URL]]\n"
               "       [--pg-url URL] [--port N]\n"
               "       [--threads N] [--connections N] [--users N] [--files N] [--seed N]\n"
               "       [--generate on|off] [--topology in-process|redis|tiered]\n"
               "       [--redis redis://127.0.0.1:6379/0] [--namespace NAME]\n"
               "       [--adaptive-ttl on|off]\n",
               why);
  std::exit(2);
}

long long number(const char* flag, const char* text, long long lo, long long hi) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (!end || *end != '\0' || v < lo || v > hi) {
    const std::string why = std::string(flag) + ": expected a number in [" + std::to_string(lo) +
                            ", " + std::to_string(hi) + "], got '" + text + "'";
    usage(why.c_str());
  }
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    const char* v = argv[++i];
    if (a == "--cache") {
      if (std::strcmp(v, "on") != 0 && std::strcmp(v, "off") != 0) usage("--cache: on or off");
      o.cache = std::strcmp(v, "on") == 0;
    } else if (a == "--db") {
      o.database = v;
      if (o.database.rfind("postgres:", 0) == 0) {
        o.pg_url = o.database.substr(std::strlen("postgres:"));
        o.database = "postgres";
      }
      if (o.database != "sqlite" && o.database != "postgres" &&
          o.database.rfind("sqlite:", 0) != 0) {
        usage("--db: sqlite, sqlite:PATH, postgres:URL or postgres (with --pg-url URL)");
      }
#ifndef TTLCACHE_SERVICE_POSTGRES
      if (o.database == "postgres")
        usage("--db postgres: built with TTLCACHE_SERVICE_POSTGRES=OFF");
#endif
    } else if (a == "--pg-url") {
      o.pg_url = v;
    } else if (a == "--adaptive-ttl") {
      if (std::strcmp(v, "on") != 0 && std::strcmp(v, "off") != 0) {
        usage("--adaptive-ttl: on or off");
      }
      o.adaptive_ttl = std::strcmp(v, "on") == 0;
    } else if (a == "--generate") {
      if (std::strcmp(v, "on") != 0 && std::strcmp(v, "off") != 0) usage("--generate: on or off");
      o.generate = std::strcmp(v, "on") == 0;
    } else if (a == "--topology") {
      o.topology = v;
    } else if (a == "--redis") {
      o.redis_url = v;
    } else if (a == "--namespace") {
      o.key_namespace = v;
    } else if (a == "--port") {
      o.port = static_cast<int>(number("--port", v, 0, 65535));
    } else if (a == "--threads") {
      o.threads = static_cast<int>(number("--threads", v, 1, 256));
    } else if (a == "--connections") {
      o.connections = static_cast<int>(number("--connections", v, 1, 64));
    } else if (a == "--users") {
      o.data.users = number("--users", v, 1, 10'000'000);
    } else if (a == "--files") {
      o.data.files = number("--files", v, 1, 10'000'000);
    } else if (a == "--seed") {
      o.data.seed = static_cast<std::uint64_t>(number("--seed", v, 0, 1LL << 62));
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  return o;
}

/// A temporary directory for the database file, removed with what SQLite left in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/ttlcache-service-XXXXXX";
    if (!mkdtemp(pattern.data())) {
      throw std::runtime_error("cannot create a temporary directory: " +
                               std::string(std::strerror(errno)));
    }
    path_ = pattern;
  }
  ~TempDir() {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::remove((path_ + "/service.db" + suffix).c_str());
    }
    ::rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file() const { return path_ + "/service.db"; }

 private:
  std::string path_;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  // Signals are taken by one thread (sigwait), before any other thread exists, so that
  // stopping the server happens outside a signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  try {
    std::unique_ptr<TempDir> temp;
    std::unique_ptr<service::Database> db;
    if (o.database == "postgres") {
#ifdef TTLCACHE_SERVICE_POSTGRES
      // Generating replaces the service's tables; a second instance uses them as they are.
      db = service::open_postgres(o.pg_url, o.connections, o.generate);
#endif
    } else if (o.database == "sqlite") {
      temp = std::make_unique<TempDir>();
      db = service::open_sqlite(temp->file(), o.connections);
    } else {
      db = service::open_sqlite(o.database.substr(std::strlen("sqlite:")), o.connections);
    }
    if (o.generate) service::generate(*db, o.data);
    const service::DbCounters baseline = db->counters();  // the generator's writes

    std::unique_ptr<service::ServiceCache> cache;
    if (o.cache) {
      service::CacheSettings settings;
      settings.seed = o.data.seed;
      settings.topology = o.topology;
      settings.redis_url = o.redis_url;
      settings.key_namespace = o.key_namespace;
      settings.adaptive_ttl = o.adaptive_ttl;
      cache = service::make_service_cache(settings);
    }
    // Redis and tiered caches are shared by instances (views.hpp: no write-through of edits).
    service::Views views(*db, cache.get(), o.cache && o.topology != "in-process");

    httplib::Server server;
    const int threads = o.threads;
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server.set_keep_alive_max_count(1'000'000);
    server.set_keep_alive_timeout(10);
    // A response leaves in two writes (headers, body); with Nagle on, the body waits for the
    // client's delayed ACK of the headers: ~40 ms on every kept-alive request.
    server.set_tcp_nodelay(true);
    service::add_routes(server, views, *db, [&] {
      const auto d = db->counters();
      const auto v = views.counters();
      nlohmann::json out{{"cache", o.cache},
                         {"reads", v.reads},
                         {"cache_hits", v.cache_hits},
                         {"writes", v.writes},
                         {"db_queries", d.queries - baseline.queries},
                         {"db_time_us", d.time_us - baseline.time_us}};
      if (cache) {
        const auto st = cache->stats();
        out["cache_stats"] = ttlcache::to_json(st);
        if (st.remote_used_memory) out["redis_used_memory"] = *st.remote_used_memory;
      }
      return out;
    });
    // The live dashboard (examples/dashboard's page) over this cache's statistics.
    const auto dashboard_sampler = cache ? service::add_dashboard(server, *cache) : nullptr;
    const int port = o.port == 0 ? server.bind_to_any_port("127.0.0.1")
                                 : (server.bind_to_port("127.0.0.1", o.port) ? o.port : -1);
    if (port <= 0) throw std::runtime_error("cannot listen on 127.0.0.1:" + std::to_string(o.port));

    std::thread stopper([&server, stop_signals] {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      server.stop();
    });
    std::printf("listening on 127.0.0.1:%d (cache %s, %lld users, %lld files)\n", port,
                o.cache ? "on" : "off", static_cast<long long>(o.data.users),
                static_cast<long long>(o.data.files));
    std::fflush(stdout);
    const bool ok = server.listen_after_bind();
    if (!ok) {
      // listen failed without a signal: wake the stopper so that it can be joined.
      kill(getpid(), SIGTERM);
    }
    stopper.join();
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ttlcache_service: %s\n", e.what());
    return 1;
  }
}

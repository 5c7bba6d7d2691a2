// Live dashboard: a simulated workload on a cache, served as Prometheus metrics, JSON and a page.
// SPDX-License-Identifier: MIT
//
// Usage: dashboard [PORT] [--run-for SECONDS]
//   PORT 0 (the default) picks a free port. Binds 127.0.0.1 only and prints
//   "dashboard listening on http://127.0.0.1:PORT/" once it accepts connections.
//   Endpoints: /metrics (Prometheus text), /stats (JSON snapshot), /history (hit rate over
//   time, JSON), / (the HTML page, no external assets).
//   Stops on SIGINT/SIGTERM, or after --run-for seconds.
#include <httplib.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dashboard_routes.hpp"
#include "ttlcache/ttlcache.hpp"

namespace {

using namespace std::chrono_literals;
using StringCache = ttlcache::Cache<std::string, std::string>;

struct Args {
  int port = 0;
  int run_for_seconds = 0;  // 0: until a signal
};

Args parse_args(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--run-for" && i + 1 < argc) {
      args.run_for_seconds = std::stoi(argv[++i]);
    } else if (a == "-h" || a == "--help") {
      std::puts("usage: dashboard [PORT] [--run-for SECONDS]   (PORT 0: pick a free one)");
      std::exit(0);
    } else {
      args.port = std::stoi(a);
      if (args.port < 0 || args.port > 65535) throw std::invalid_argument("port out of range");
    }
  }
  return args;
}

// Zipf-like popularity: a few keys get most reads, as in real traffic.
class KeyPicker {
 public:
  KeyPicker(std::size_t n, double s) {
    std::vector<double> w(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = 1.0 / std::pow(static_cast<double>(i + 1), s);
    dist_ = std::discrete_distribution<std::size_t>(w.begin(), w.end());
  }
  std::size_t pick(std::mt19937_64& rng) { return dist_(rng); }

 private:
  std::discrete_distribution<std::size_t> dist_;
};

// One simulated request loop: reads through the cache by content type; a miss "queries the
// database" (a short sleep); now and then a write invalidates a key, and every 40 s the popular
// set shifts, so the hit rate visibly drops and recovers.
void workload(StringCache& cache, std::atomic<bool>& stop, unsigned seed,
              std::chrono::steady_clock::time_point start) {
  std::mt19937_64 rng(seed);
  KeyPicker lists(4000, 1.05);
  KeyPicker thumbs(12000, 0.9);
  std::uniform_int_distribution<int> percent(0, 99);
  std::uniform_int_distribution<int> db_us(300, 3000);
  while (!stop.load(std::memory_order_relaxed)) {
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start)
            .count();
    const std::size_t shift = static_cast<std::size_t>(elapsed / 40) * 100'000;
    const int p = percent(rng);
    try {
      if (p < 65) {
        const std::string key = "files:user:" + std::to_string(lists.pick(rng) + shift);
        (void)cache.get_or_load(
            key,
            [&] {
              std::this_thread::sleep_for(std::chrono::microseconds(db_us(rng)));
              return std::string(400, 'l');
            },
            "file_list");
      } else if (p < 97) {
        const std::string key = "thumb:" + std::to_string(thumbs.pick(rng) + shift);
        (void)cache.get_or_load(
            key,
            [&] {
              std::this_thread::sleep_for(std::chrono::microseconds(db_us(rng) * 2));
              // One load in a hundred fails, as a flaky database would.
              if (percent(rng) == 0) throw std::runtime_error("thumbnail service timed out");
              return std::string(3000, 't');
            },
            "thumbnail");
      } else {
        (void)cache.erase("files:user:" + std::to_string(lists.pick(rng) + shift));
      }
    } catch (const std::exception&) {  // a failed load: counted by the cache, nothing to do
    }
    std::this_thread::sleep_for(150us);  // keep the simulated traffic light on a shared machine
  }
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse_args(argc, argv);

  // Signals go to a dedicated thread (sigwait), so no async-signal-safety puzzles.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ttlcache::StatsOptions stats;
  stats.window = 10s;
  stats.window_operations = 2000;
  std::atomic<std::uint64_t> logged_failures{0};
  ttlcache::CacheListeners listeners;
  listeners.on_load_failure = [&](const ttlcache::LoadFailureEvent& e) {
    // A service would hand this to its logger; log the first few only.
    if (logged_failures.fetch_add(1) < 3) {
      std::fprintf(stderr, "load failure in %.*s (%.*s): %.*s\n", static_cast<int>(e.cache.size()),
                   e.cache.data(), static_cast<int>(e.content_type.size()), e.content_type.data(),
                   static_cast<int>(e.message.size()), e.message.data());
    }
  };
  // Bytes are weighed for the dashboard's memory figure; the bound is the entry count.
  auto bytes = [](const std::string& k, const std::string& v) { return k.size() + v.size(); };
  StringCache cache = ttlcache::CacheBuilder<std::string, std::string>("dashboard")
                          .max_entries(3000)
                          .max_weight(std::numeric_limits<std::uint64_t>::max(), bytes)
                          .dynamic_ttl()
                          .stats(stats)
                          .listeners(listeners)
                          .build();

  const auto start = std::chrono::steady_clock::now();
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (unsigned i = 0; i < 2; ++i) {
    workers.emplace_back([&, i] { workload(cache, stop, 1234 + i, start); });
  }

  const dashboard::StatsSource stats_of_cache = [&cache] { return cache.stats(); };
  dashboard::History history(stats_of_cache);
  httplib::Server server;
  dashboard::add_routes(server, "", stats_of_cache, history);

  int port = args.port;
  if (port == 0) {
    port = server.bind_to_any_port("127.0.0.1");
  } else if (!server.bind_to_port("127.0.0.1", port)) {
    port = -1;
  }
  if (port <= 0) {
    std::fprintf(stderr, "dashboard: cannot bind 127.0.0.1:%d\n", args.port);
    stop = true;
    for (auto& w : workers) w.join();
    return 1;
  }

  std::thread stopper([&] {
    if (args.run_for_seconds > 0) {
      timespec timeout{args.run_for_seconds, 0};
      sigtimedwait(&signals, nullptr, &timeout);
    } else {
      int sig = 0;
      sigwait(&signals, &sig);
    }
    server.stop();
  });

  std::printf("dashboard listening on http://127.0.0.1:%d/\n", port);
  std::fflush(stdout);
  server.listen_after_bind();

  // listen_after_bind also returns on its own (a socket error): wake the stopper thread.
  kill(getpid(), SIGTERM);
  stop = true;
  stopper.join();
  for (auto& w : workers) w.join();
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "dashboard: %s\n", e.what());
  return 1;
}

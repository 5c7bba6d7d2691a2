// The live dashboard's HTTP side, shared by examples/dashboard and examples/service: a sampler
// of the hit rate over time and the routes that serve the page, its JSON and /metrics.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <ttlcache/metrics_export.hpp>
#include <ttlcache/stats.hpp>

#include "dashboard_page.hpp"

namespace dashboard {

/// Where the page's figures come from: usually [&cache] { return cache.stats(); }.
using StatsSource = std::function<ttlcache::CacheStats()>;

/// Samples a cache's statistics on a thread of its own (every period, the last keep points) for
/// the page's chart. Thread-safety: to_json() may be called from any thread while it samples.
/// Exceptions: the constructor throws what std::thread throws; a sample that throws is skipped.
/// Destroy it before the cache it samples (the destructor stops and joins its thread).
class History {
 public:
  explicit History(StatsSource stats, std::chrono::milliseconds period = std::chrono::seconds(1),
                   std::size_t keep = 600)
      : stats_(std::move(stats)),
        period_(period),
        keep_(keep),
        start_(std::chrono::steady_clock::now()),
        thread_([this] { run(); }) {}
  ~History() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  /// [{t, hit_rate, window_hit_rate, load_p99_ms, entries}, ...], oldest first; t in seconds
  /// since the sampler started.
  nlohmann::json to_json() const {
    std::lock_guard<std::mutex> lock(mutex_);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : points_) {
      out.push_back({{"t", p.t},
                     {"hit_rate", p.hit_rate},
                     {"window_hit_rate", p.window_hit_rate},
                     {"load_p99_ms", p.p99_ms},
                     {"entries", p.entries}});
    }
    return out;
  }

 private:
  struct Point {
    double t;
    double hit_rate;
    double window_hit_rate;
    double p99_ms;
    std::uint64_t entries;
  };

  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      lock.unlock();
      add_sample();
      lock.lock();
      // A condition variable, not a sleep: the destructor does not wait out a period.
      wake_.wait_for(lock, period_, [this] { return stop_; });
    }
  }

  void add_sample() {
    try {
      const ttlcache::CacheStats s = stats_();
      const Point p{
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(),
          s.hit_rate(), s.window.hit_rate(), static_cast<double>(s.load_latency.p99_ns) / 1e6,
          s.entries.value_or(0)};
      std::lock_guard<std::mutex> lock(mutex_);
      points_.push_back(p);
      if (points_.size() > keep_) points_.pop_front();
    } catch (...) {  // a backend that cannot answer now: a gap in the chart, not a dead thread
    }
  }

  StatsSource stats_;
  std::chrono::milliseconds period_;
  std::size_t keep_;
  std::chrono::steady_clock::time_point start_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::deque<Point> points_;
  std::thread thread_;  // last: starts once every member above exists
};

/// Serves the dashboard on server: the page at base ("/" when base is empty), its JSON at
/// base + "/stats" (ttlcache::to_json of the statistics) and base + "/history", and Prometheus
/// text at /metrics. history must outlive the server's handling of requests. Throws
/// std::invalid_argument for a base that page_html() refuses.
inline void add_routes(httplib::Server& server, const std::string& base, StatsSource stats,
                       const History& history) {
  std::string page = page_html(base);
  server.Get(base.empty() ? "/" : base,
             [page = std::move(page)](const httplib::Request&, httplib::Response& res) {
               res.set_content(page, "text/html; charset=utf-8");
             });
  server.Get(base + "/stats", [stats](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(ttlcache::to_json(stats()).dump(), "application/json");
  });
  server.Get(base + "/history", [&history](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(history.to_json().dump(), "application/json");
  });
  server.Get("/metrics",
             [stats = std::move(stats)](const httplib::Request&, httplib::Response& res) {
               res.set_content(ttlcache::to_prometheus(stats()),
                               std::string(ttlcache::prometheus_content_type));
             });
}

}  // namespace dashboard

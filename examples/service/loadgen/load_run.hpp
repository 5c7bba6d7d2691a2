// Plays the traffic against a running service from several client threads, open loop (a fixed
// arrival rate, latency counted from each request's scheduled time, so a slow service is not
// hidden by coordinated omission) or closed loop (saturation), and records every response time.
// SPDX-License-Identifier: MIT
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "traffic.hpp"

namespace loadgen {

struct RunOptions {
  std::string label = "run";
  /// The service instances; client thread i talks to ports[i % size] (load spread evenly).
  std::vector<int> ports;
  int threads = 8;
  /// Requests per second over all threads; 0: closed loop (each thread sends as fast as the
  /// service answers: throughput at saturation).
  double rate = 0;
  std::chrono::milliseconds duration{10'000};
  /// Played before the measured duration, not measured (the cache and the database warm up).
  std::chrono::milliseconds warmup{0};
  /// Share of file reads checked (freshness.hpp): against the writes that had returned before
  /// the read was sent, and (to count overlaps) the database's version read just before.
  double sample_ratio = 0.02;
  /// Several instances: how long a write returned by one may take to reach the others' L1
  /// (the pub/sub bus). A read sent later than that must be fresh on every instance.
  std::chrono::milliseconds cross_instance_bound{2'000};
  bool progress = true;
  TrafficOptions traffic;
};

/// What one run measured. Latencies in milliseconds, seen by the client.
struct RunFigures {
  std::string label;
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;  ///< transport errors and statuses other than 200/201/304/404
  std::uint64_t not_modified = 0;
  double seconds = 0;
  double throughput = 0;
  double mean_ms = 0, p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
  std::uint64_t sampled = 0;      ///< file reads checked against the database
  std::uint64_t stale_reads = 0;  ///< older than a write that had returned before the read
  std::uint64_t overlapped = 0;   ///< older than the database, only by writes still in flight
  std::uint64_t lagging = 0;      ///< older than another instance's write returned within the bound
  std::uint64_t write_checks = 0;        ///< writes read back at once
  std::uint64_t writes_not_visible = 0;  ///< read back older than the write's answer
  std::uint64_t reads = 0, cache_hits = 0, db_queries = 0, db_time_us = 0;  ///< the servers'
  std::uint64_t redis_used_memory = 0;  ///< at the end of the run (0: not on Redis)
  std::string first_error;
  double hit_rate() const {
    return reads ? static_cast<double>(cache_hits) / static_cast<double>(reads) : 0;
  }
  double db_queries_per_request() const {
    return requests ? static_cast<double>(db_queries) / static_cast<double>(requests) : 0;
  }
  nlohmann::json to_json() const;
};

/// Runs the load; throws std::runtime_error when the service cannot be reached at all.
RunFigures run_load(const RunOptions& options);

/// GET path on 127.0.0.1:port; throws std::runtime_error unless the status is 200.
nlohmann::json get_json(int port, const std::string& path);
/// The counters of /admin/stats summed over the instances.
nlohmann::json server_counters(const std::vector<int>& ports);

}  // namespace loadgen

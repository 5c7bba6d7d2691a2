// The client threads: scheduling, response checks, latency records, the progress line.
// SPDX-License-Identifier: MIT
#include "load_run.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include <httplib.h>

#include "dataset.hpp"
#include "freshness.hpp"

namespace loadgen {
namespace {

using Clock = std::chrono::steady_clock;

struct ThreadResult {
  std::vector<float> latencies_us;
  std::uint64_t errors = 0, not_modified = 0, sampled = 0, stale = 0, overlapped = 0, lagging = 0,
                write_checks = 0, not_visible = 0;
  std::string first_error;
};

std::int64_t version_in(const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  return j.is_object() && j.contains("version") ? j["version"].get<std::int64_t>() : -1;
}

class Client {
 public:
  Client(int port, ThreadResult& r) : http_("127.0.0.1", port), r_(r) {
    http_.set_keep_alive(true);
    http_.set_tcp_nodelay(true);  // see the service: Nagle + delayed ACK cost ~40 ms a request
    http_.set_connection_timeout(std::chrono::seconds(10));
    http_.set_read_timeout(std::chrono::seconds(60));
    http_.set_write_timeout(std::chrono::seconds(10));
  }

  /// Sends req; returns the answer (status -1 on a transport error, counted).
  httplib::Result send(const Request& req, const httplib::Headers& headers = {}) {
    const std::string path = req.path();
    httplib::Result res = req.method() == "GET"   ? http_.Get(path, headers)
                          : req.method() == "PUT" ? http_.Put(path, req.body(), "text/markdown")
                          : req.method() == "POST"
                              ? http_.Post(path, req.body(), "application/json")
                              : http_.Delete(path);
    const int status = res ? res->status : -1;
    if (status != 200 && status != 201 && status != 304 && status != 404) {
      ++r_.errors;
      if (r_.first_error.empty()) {
        r_.first_error = req.method() + " " + path + ": " +
                         (res ? "status " + std::to_string(status) + " " + res->body
                              : "transport error " + httplib::to_string(res.error()));
      }
    }
    return res;
  }
  std::int64_t db_version(std::int64_t id) {
    auto res = http_.Get("/admin/db/files/" + std::to_string(id) + "/version");
    if (!res || res->status != 200) return -1;
    return version_in(res->body);
  }
  void problem(std::uint64_t& counter, const std::string& what) {
    ++counter;
    if (r_.first_error.empty()) r_.first_error = what;
  }

 private:
  httplib::Client http_;
  ThreadResult& r_;
};

void client_thread(const RunOptions& o, int index, Clock::time_point start,
                   Clock::time_point measured_from, Clock::time_point end,
                   std::atomic<std::uint64_t>& done, WriteLedger& ledger, ThreadResult& r) {
  Traffic traffic(o.traffic, static_cast<std::uint64_t>(index));
  const int port = o.ports[static_cast<std::size_t>(index) % o.ports.size()];
  Client client(port, r);
  std::unordered_map<std::int64_t, std::string> etags;  // what this "browser" has seen
  std::uint64_t sample_rng = o.traffic.seed + 1000 + static_cast<std::uint64_t>(index);
  const double interval_s = o.rate > 0 ? o.threads / o.rate : 0;
  for (std::uint64_t i = 0;; ++i) {
    Clock::time_point scheduled = Clock::now();
    if (interval_s > 0) {
      // Each thread's requests are evenly spaced, threads offset from each other.
      scheduled = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                              interval_s * (static_cast<double>(i) + index / double(o.threads))));
      if (scheduled >= end) break;
      std::this_thread::sleep_until(scheduled);
    } else if (scheduled >= end) {
      break;
    }
    const Request req = traffic.next();
    const bool sample =
        req.kind == Kind::file_content && service::next_unit(sample_rng) < o.sample_ratio;
    // The database's version (to count overlaps), then the writes returned so far, then the
    // read: every write in `acks` returned before the read was sent.
    std::int64_t db_before = -1;
    std::vector<Ack> acks;
    Clock::time_point sent{};
    if (sample) {
      db_before = client.db_version(req.id);
      acks = ledger.acknowledged(req.id);
      sent = Clock::now();
    }

    httplib::Headers headers;
    if (req.kind == Kind::markdown) {
      auto it = etags.find(req.id);
      if (it != etags.end()) headers.emplace("If-None-Match", it->second);
    }
    auto res = client.send(req, headers);
    const auto answered = Clock::now();
    const auto took = answered - scheduled;
    if (scheduled >= measured_from) {
      r.latencies_us.push_back(
          static_cast<float>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
      done.fetch_add(1, std::memory_order_relaxed);
    }
    if (!res) continue;
    if (res->status == 304) ++r.not_modified;
    if (req.kind == Kind::markdown && res->status == 200) {
      etags[req.id] = res->get_header_value("ETag");
    }
    if (sample && (res->status == 200 || res->status == 404)) {
      ++r.sampled;
      const std::int64_t got = res->status == 200 ? version_in(res->body) : 0;
      switch (judge_read(acks, port, sent, o.cross_instance_bound, db_before, res->status, got)) {
        case Freshness::stale: {
          std::int64_t newest = 0;
          for (const Ack& a : acks) newest = std::max(newest, a.version);
          client.problem(
              r.stale,
              "stale read of file " + std::to_string(req.id) + ": " +
                  (res->status == 404 ? std::string("404") : "version " + std::to_string(got)) +
                  " after a write had returned " +
                  (newest == deleted_version ? std::string("its delete") : std::to_string(newest)));
          break;
        }
        case Freshness::lagging:
          ++r.lagging;
          break;
        case Freshness::overlapped:
          ++r.overlapped;
          break;
        case Freshness::fresh:
          break;
      }
    }
    // Every write that returned is recorded before its read-back, for the other threads' checks.
    if (req.kind == Kind::edit && res->status == 200) {
      ledger.acknowledge(req.id, Ack{version_in(res->body), port, answered});
    } else if (req.kind == Kind::create && res->status == 201) {
      const auto created = nlohmann::json::parse(res->body, nullptr, false);
      if (created.is_object() && created.contains("id")) {
        ledger.acknowledge(created["id"].get<std::int64_t>(),
                           Ack{version_in(res->body), port, answered});
      }
    } else if (req.kind == Kind::remove && res->status == 200) {
      ledger.acknowledge(req.id, Ack{deleted_version, port, answered});
    }
    // Writes are visible once they return: read back at once (not timed).
    if (req.kind == Kind::edit && res->status == 200) {
      ++r.write_checks;
      const std::int64_t written = version_in(res->body);
      Request back{Kind::file_content, req.id, 0, {}};
      auto after = client.send(back);
      if (after && after->status == 200 && version_in(after->body) < written) {
        client.problem(r.not_visible, "edit of file " + std::to_string(req.id) +
                                          " not visible: read version " +
                                          std::to_string(version_in(after->body)) +
                                          " after writing " + std::to_string(written));
      }
    } else if (req.kind == Kind::create && res->status == 201) {
      ++r.write_checks;
      const auto id = nlohmann::json::parse(res->body)["id"].get<std::int64_t>();
      Request back{Kind::file_content, id, 0, {}};
      auto after = client.send(back);
      if (!after || after->status != 200) {
        client.problem(r.not_visible, "new file " + std::to_string(id) + " not readable");
      }
    } else if (req.kind == Kind::remove && res->status == 200) {
      ++r.write_checks;
      for (Kind k : {Kind::file_content, Kind::markdown}) {
        auto after = client.send(Request{k, req.id, 0, {}});
        if (after && after->status != 404) {
          client.problem(r.not_visible, std::string("deleted file ") + std::to_string(req.id) +
                                            " still served by " + kind_name(k));
        }
      }
    }
  }
}

double percentile(std::vector<float>& v, double p) {
  if (v.empty()) return 0;
  auto at = v.begin() + static_cast<std::ptrdiff_t>(static_cast<double>(v.size() - 1) * p);
  std::nth_element(v.begin(), at, v.end());
  return *at / 1000.0;
}

}  // namespace

nlohmann::json get_json(int port, const std::string& path) {
  httplib::Client http("127.0.0.1", port);
  http.set_read_timeout(std::chrono::seconds(30));
  auto res = http.Get(path);
  if (!res || res->status != 200) {
    throw std::runtime_error(
        "GET 127.0.0.1:" + std::to_string(port) + path + ": " +
        (res ? "status " + std::to_string(res->status) : httplib::to_string(res.error())));
  }
  return nlohmann::json::parse(res->body);
}

nlohmann::json server_counters(const std::vector<int>& ports) {
  nlohmann::json sum{{"reads", 0},      {"cache_hits", 0}, {"writes", 0},
                     {"db_queries", 0}, {"db_time_us", 0}, {"redis_used_memory", 0}};
  for (int port : ports) {
    const auto one = get_json(port, "/admin/stats");
    for (const char* k : {"reads", "cache_hits", "writes", "db_queries", "db_time_us"}) {
      sum[k] = sum[k].get<std::uint64_t>() + one[k].get<std::uint64_t>();
    }
    // One server: every instance reports the same used_memory.
    if (one.contains("redis_used_memory")) sum["redis_used_memory"] = one["redis_used_memory"];
  }
  return sum;
}

nlohmann::json RunFigures::to_json() const {
  return {{"label", label},
          {"requests", requests},
          {"errors", errors},
          {"not_modified", not_modified},
          {"seconds", seconds},
          {"throughput_rps", throughput},
          {"mean_ms", mean_ms},
          {"p50_ms", p50_ms},
          {"p90_ms", p90_ms},
          {"p99_ms", p99_ms},
          {"max_ms", max_ms},
          {"hit_rate", hit_rate()},
          {"server_reads", reads},
          {"cache_hits", cache_hits},
          {"db_queries", db_queries},
          {"db_time_ms", static_cast<double>(db_time_us) / 1000.0},
          {"db_queries_per_request", db_queries_per_request()},
          {"sampled", sampled},
          {"stale_reads", stale_reads},
          {"overlapped_reads", overlapped},
          {"lagging_reads", lagging},
          {"write_checks", write_checks},
          {"writes_not_visible", writes_not_visible},
          {"redis_used_memory", redis_used_memory}};
}

RunFigures run_load(const RunOptions& o) {
  if (o.threads < 1) throw std::invalid_argument("loadgen: threads must be at least 1");
  if (o.ports.empty()) throw std::invalid_argument("loadgen: no service port");
  server_counters(o.ports);  // reachable, before any thread starts
  std::vector<ThreadResult> results(static_cast<std::size_t>(o.threads));
  std::atomic<std::uint64_t> done{0};
  WriteLedger ledger;
  const auto warm_from = Clock::now() + std::chrono::milliseconds(20);
  const auto start = warm_from + o.warmup;
  const auto end = start + o.duration;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(o.threads));
  for (int i = 0; i < o.threads; ++i) {
    threads.emplace_back(client_thread, std::cref(o), i, warm_from, start, end, std::ref(done),
                         std::ref(ledger), std::ref(results[static_cast<std::size_t>(i)]));
  }
  // The server's counters from the end of the warm-up (requests in flight at that instant
  // are the only imprecision).
  if (o.warmup.count() > 0 && o.progress) {
    std::fprintf(stderr, "  %-10s warming up for %.0f s\n", o.label.c_str(),
                 std::chrono::duration<double>(o.warmup).count());
  }
  std::this_thread::sleep_until(start);
  const nlohmann::json before = server_counters(o.ports);
  // The progress line: every second on a terminal, every 5 s otherwise; bounded by the run
  // (plus the slowest answer's read timeout).
  const bool tty = isatty(STDERR_FILENO) != 0;
  const auto total_s = std::chrono::duration<double>(o.duration).count();
  for (int tick = 1; o.progress && Clock::now() < end; ++tick) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    if (!tty && tick % 5 != 0) continue;
    const double elapsed =
        std::min(total_s, std::chrono::duration<double>(Clock::now() - start).count());
    std::fprintf(stderr,
                 tty ? "\r  %-10s %5.1f / %.0f s  %8llu requests  %7.0f req/s "
                     : "  %-10s %5.1f / %.0f s  %8llu requests  %7.0f req/s\n",
                 o.label.c_str(), elapsed, total_s, static_cast<unsigned long long>(done.load()),
                 static_cast<double>(done.load()) / std::max(elapsed, 0.001));
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(std::max(end, Clock::now()) - start).count();
  if (o.progress && tty) std::fprintf(stderr, "\n");
  const nlohmann::json after = server_counters(o.ports);

  RunFigures f;
  f.label = o.label;
  std::vector<float> all;
  for (auto& r : results) {
    all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
    f.errors += r.errors;
    f.not_modified += r.not_modified;
    f.sampled += r.sampled;
    f.stale_reads += r.stale;
    f.overlapped += r.overlapped;
    f.lagging += r.lagging;
    f.write_checks += r.write_checks;
    f.writes_not_visible += r.not_visible;
    if (f.first_error.empty()) f.first_error = r.first_error;
  }
  f.requests = all.size();
  f.seconds = seconds;
  f.throughput = static_cast<double>(f.requests) / seconds;
  if (!all.empty()) {
    f.mean_ms =
        std::accumulate(all.begin(), all.end(), 0.0) / static_cast<double>(all.size()) / 1000.0;
    f.p50_ms = percentile(all, 0.50);
    f.p90_ms = percentile(all, 0.90);
    f.p99_ms = percentile(all, 0.99);
    f.max_ms = *std::max_element(all.begin(), all.end()) / 1000.0;
  }
  const auto delta = [&](const char* k) {
    return after[k].get<std::uint64_t>() - before[k].get<std::uint64_t>();
  };
  f.reads = delta("reads");
  f.cache_hits = delta("cache_hits");
  f.db_queries = delta("db_queries");
  f.db_time_us = delta("db_time_us");
  f.redis_used_memory = after["redis_used_memory"].get<std::uint64_t>();
  return f;
}

}  // namespace loadgen

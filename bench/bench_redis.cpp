// Redis backend vs raw hiredis on the same server: single get/set and batches of 100; over TLS too.
// SPDX-License-Identifier: MIT
//
// Needs a running Redis; its address comes from --redis-url=URL or TTLCACHE_BENCH_REDIS_URL
// (redis://host:port/db or unix:///path). For example:
//
//   redis-server --port 16379 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes
//   TTLCACHE_BENCH_REDIS_URL=redis://127.0.0.1:16379/0 build/redis/bench/bench_redis
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true   (one line)
//   redis-cli -p 16379 shutdown nosave
//
// TLS: give the same server's TLS port with --tls-url=rediss://127.0.0.1:PORT/0 (or
// TTLCACHE_BENCH_TLS_URL) and its CA with --tls-ca=FILE (or TTLCACHE_BENCH_TLS_CA); then
// get/ttlcache_tls and get_many_100/ttlcache_tls run too, on the same keys, e.g. with
//   redis-server --port 16379 --tls-port 16380 --tls-cert-file server.crt
//       --tls-key-file server.key --tls-ca-cert-file ca.crt --tls-auth-clients no ...
//
// Both sides do the same work per call: build nothing but the command, wait for the reply,
// copy the value(s) into std::string. The raw side stores plain values; ttlcache adds its
// 9-byte value header (and checks it), its namespace, the pool and the typed CodecBackend.
// Each benchmark name ends in /raw or /ttlcache; compare real time (items/s for batches).
// get_many_100/paired_ttlcache_vs_raw_mget runs both batch reads back to back and reports the
// ratio per pair (counters real_p10/p50/p90, cpu_p50: ttlcache / raw MGET throughput), which
// stays readable on a loaded machine.
#include <hiredis/hiredis.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "paired.hpp"
#include "ttlcache/redis.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int key_count = 1000;
constexpr int batch = 100;
constexpr std::size_t value_size = 100;

std::string g_url;      // set once in main, before any benchmark runs
std::string g_tls_url;  // optional: the same server's TLS port
std::string g_tls_ca;

struct Keys {
  std::vector<std::string> plain;  // as the ttlcache backend sees them (it adds "bench:")
  std::vector<std::string> raw;    // what raw hiredis uses ("benchraw:k<i>")
  Keys() {
    for (int i = 0; i < key_count; ++i) {
      plain.push_back("k" + std::to_string(i));
      raw.push_back("benchraw:k" + std::to_string(i));
    }
  }
};

const Keys& keys() {
  static const Keys k;
  return k;
}

const std::string& value() {
  static const std::string v(value_size, 'v');
  return v;
}

struct ReplyFree {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// A raw hiredis connection to the same server, as an application would hold one.
class Raw {
 public:
  Raw() {
    const auto options = ttlcache::redis::RedisOptions::from_url(g_url);
    const timeval tv{1, 0};
    context_ = options.unix_socket.empty()
                   ? redisConnectWithTimeout(options.host.c_str(), options.port, tv)
                   : redisConnectUnixWithTimeout(options.unix_socket.c_str(), tv);
    if (context_ == nullptr || context_->err != 0) throw std::runtime_error("cannot connect");
    if (options.db != 0) command({"SELECT", std::to_string(options.db)});
  }
  ~Raw() { redisFree(context_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;

  Reply command(std::initializer_list<std::string_view> args) {
    const char* argv[8];
    std::size_t lens[8];
    int n = 0;
    for (auto a : args) {
      argv[n] = a.data();
      lens[n] = a.size();
      ++n;
    }
    Reply reply(static_cast<redisReply*>(redisCommandArgv(context_, n, argv, lens)));
    if (!reply) throw std::runtime_error("connection failed");
    return reply;
  }
  void append(std::initializer_list<std::string_view> args) {
    const char* argv[8];
    std::size_t lens[8];
    int n = 0;
    for (auto a : args) {
      argv[n] = a.data();
      lens[n] = a.size();
      ++n;
    }
    redisAppendCommandArgv(context_, n, argv, lens);
  }
  Reply command_argv(std::vector<const char*>& argv, const std::vector<std::size_t>& lens) {
    Reply reply(static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (!reply) throw std::runtime_error("connection failed");
    return reply;
  }
  Reply read() {
    void* r = nullptr;
    if (redisGetReply(context_, &r) != REDIS_OK) throw std::runtime_error("connection failed");
    return Reply(static_cast<redisReply*>(r));
  }

 private:
  redisContext* context_ = nullptr;
};

std::shared_ptr<ttlcache::Backend<std::string, std::string>> make_ttlcache(bool tls = false) {
  auto options = ttlcache::redis::RedisOptions::from_url(tls ? g_tls_url : g_url);
  if (tls) options.tls_ca_file = g_tls_ca;
  options.key_namespace = "bench";
  options.pool_size = 1;  // one connection, like the raw side
  return ttlcache::redis::make_backend<std::string, std::string>(options);
}

// Both data sets exist before any read benchmark runs.
void populate() {
  auto cache = make_ttlcache();
  Raw raw;
  std::vector<ttlcache::Write<std::string, std::string>> writes;
  for (int i = 0; i < key_count; ++i) {
    writes.push_back({keys().plain[i], value(), 10min});
    raw.command({"SET", keys().raw[i], value(), "PX", "600000"});
  }
  cache->set_many(std::move(writes));
}

void get_raw(benchmark::State& state) {
  Raw raw;
  int i = 0;
  for (auto _ : state) {
    Reply reply = raw.command({"GET", keys().raw[i++ % key_count]});
    std::optional<std::string> out;
    if (reply->type == REDIS_REPLY_STRING) out.emplace(reply->str, reply->len);
    benchmark::DoNotOptimize(out);
  }
}

void get_ttlcache(benchmark::State& state) {
  auto cache = make_ttlcache();
  int i = 0;
  for (auto _ : state) {
    auto out = cache->get(keys().plain[i++ % key_count]);
    benchmark::DoNotOptimize(out);
  }
}

void get_ttlcache_tls(benchmark::State& state) {
  auto cache = make_ttlcache(true);
  int i = 0;
  for (auto _ : state) {
    auto out = cache->get(keys().plain[i++ % key_count]);
    benchmark::DoNotOptimize(out);
  }
}

void set_raw(benchmark::State& state) {
  Raw raw;
  int i = 0;
  for (auto _ : state) {
    Reply reply = raw.command({"SET", keys().raw[i++ % key_count], value(), "PX", "600000"});
    benchmark::DoNotOptimize(reply->type);
  }
}

void set_ttlcache(benchmark::State& state) {
  auto cache = make_ttlcache();
  int i = 0;
  for (auto _ : state) cache->set(keys().plain[i++ % key_count], value(), 10min);
}

// One raw MGET of the next `batch` keys, copied out as an application would.
class RawMget {
 public:
  void operator()(Raw& raw) {
    argv_.assign(1, "MGET");
    lens_.assign(1, 4);
    for (int j = 0; j < batch; ++j) {
      const std::string& k = keys().raw[(start_ + j) % key_count];
      argv_.push_back(k.data());
      lens_.push_back(k.size());
    }
    start_ += batch;
    Reply reply = raw.command_argv(argv_, lens_);
    std::vector<std::optional<std::string>> out(batch);
    for (std::size_t j = 0; j < reply->elements; ++j) {
      const redisReply* e = reply->element[j];
      if (e->type == REDIS_REPLY_STRING) out[j].emplace(e->str, e->len);
    }
    benchmark::DoNotOptimize(out);
  }

 private:
  int start_ = 0;
  std::vector<const char*> argv_;
  std::vector<std::size_t> lens_;
};

// One ttlcache get_many of the next `batch` keys. Both sides pick the keys from a prebuilt
// table; only the copy into the vector differs.
class OurGetMany {
 public:
  void operator()(ttlcache::Backend<std::string, std::string>& cache) {
    for (int j = 0; j < batch; ++j) keys_[j] = keys().plain[(start_ + j) % key_count];
    start_ += batch;
    auto out = cache.get_many(keys_);
    benchmark::DoNotOptimize(out);
  }

 private:
  int start_ = 0;
  std::vector<std::string> keys_ = std::vector<std::string>(batch);
};

void get_many_raw_mget(benchmark::State& state) {
  Raw raw;
  RawMget mget;
  for (auto _ : state) mget(raw);
  state.SetItemsProcessed(state.iterations() * batch);
}

void get_many_raw_pipeline(benchmark::State& state) {
  Raw raw;
  int start = 0;
  for (auto _ : state) {
    for (int j = 0; j < batch; ++j) raw.append({"GET", keys().raw[(start + j) % key_count]});
    start += batch;
    std::vector<std::optional<std::string>> out(batch);
    for (int j = 0; j < batch; ++j) {
      Reply reply = raw.read();
      if (reply->type == REDIS_REPLY_STRING) out[j].emplace(reply->str, reply->len);
    }
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void get_many_ttlcache(benchmark::State& state) {
  auto cache = make_ttlcache();
  OurGetMany get_many;
  for (auto _ : state) get_many(*cache);
  state.SetItemsProcessed(state.iterations() * batch);
}

// Paired: each iteration runs a block of ttlcache get_many batches and a block of raw MGETs
// back to back (alternating which goes first), so that the load of other processes on a
// shared machine falls on both alike. The counters are percentiles over the iterations of the
// per-pair throughput ratio ttlcache / raw MGET, by real time and by this thread's CPU time.
void get_many_paired_vs_mget(benchmark::State& state) {
  constexpr int block = 10;
  auto cache = make_ttlcache();
  Raw raw;
  OurGetMany ours;
  RawMget mget;
  std::vector<double> real_ratio;
  std::vector<double> cpu_ratio;
  bool ours_first = true;
  auto timed = [](auto&& run, double& real, double& cpu) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = ttlcache_bench::thread_cpu_ns();
    for (int b = 0; b < block; ++b) run();
    cpu = ttlcache_bench::thread_cpu_ns() - cpu_start;
    real =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  };
  for (auto _ : state) {
    double ours_real = 0;
    double ours_cpu = 0;
    double raw_real = 0;
    double raw_cpu = 0;
    if (ours_first) {
      timed([&] { ours(*cache); }, ours_real, ours_cpu);
      timed([&] { mget(raw); }, raw_real, raw_cpu);
    } else {
      timed([&] { mget(raw); }, raw_real, raw_cpu);
      timed([&] { ours(*cache); }, ours_real, ours_cpu);
    }
    ours_first = !ours_first;
    real_ratio.push_back(raw_real / ours_real);
    cpu_ratio.push_back(raw_cpu / ours_cpu);
  }
  if (real_ratio.empty()) return;
  state.counters["real_p10"] = ttlcache_bench::percentile(real_ratio, 0.1);
  state.counters["real_p50"] = ttlcache_bench::percentile(real_ratio, 0.5);
  state.counters["real_p90"] = ttlcache_bench::percentile(real_ratio, 0.9);
  state.counters["cpu_p50"] = ttlcache_bench::percentile(cpu_ratio, 0.5);
  state.SetItemsProcessed(state.iterations() * block * batch * 2);
}

void get_many_ttlcache_tls(benchmark::State& state) {
  auto cache = make_ttlcache(true);
  int start = 0;
  std::vector<std::string> batch_keys(batch);
  for (auto _ : state) {
    for (int j = 0; j < batch; ++j) batch_keys[j] = keys().plain[(start + j) % key_count];
    start += batch;
    auto out = cache->get_many(batch_keys);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void set_many_raw_pipeline(benchmark::State& state) {
  Raw raw;
  int start = 0;
  for (auto _ : state) {
    for (int j = 0; j < batch; ++j) {
      raw.append({"SET", keys().raw[(start + j) % key_count], value(), "PX", "600000"});
    }
    start += batch;
    for (int j = 0; j < batch; ++j) benchmark::DoNotOptimize(raw.read()->type);
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void set_many_ttlcache(benchmark::State& state) {
  auto cache = make_ttlcache();
  int start = 0;
  for (auto _ : state) {
    std::vector<ttlcache::Write<std::string, std::string>> writes;
    writes.reserve(batch);
    for (int j = 0; j < batch; ++j) {
      writes.push_back({keys().plain[(start + j) % key_count], value(), 10min});
    }
    start += batch;
    cache->set_many(std::move(writes));
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

}  // namespace

BENCHMARK(get_raw)->Name("get/raw")->UseRealTime();
BENCHMARK(get_ttlcache)->Name("get/ttlcache")->UseRealTime();
BENCHMARK(set_raw)->Name("set/raw")->UseRealTime();
BENCHMARK(set_ttlcache)->Name("set/ttlcache")->UseRealTime();
BENCHMARK(get_many_raw_mget)->Name("get_many_100/raw_mget")->UseRealTime();
BENCHMARK(get_many_raw_pipeline)->Name("get_many_100/raw_pipeline")->UseRealTime();
BENCHMARK(get_many_ttlcache)->Name("get_many_100/ttlcache")->UseRealTime();
BENCHMARK(get_many_paired_vs_mget)->Name("get_many_100/paired_ttlcache_vs_raw_mget")->UseRealTime();
BENCHMARK(set_many_raw_pipeline)->Name("set_many_100/raw_pipeline")->UseRealTime();
BENCHMARK(set_many_ttlcache)->Name("set_many_100/ttlcache")->UseRealTime();

int main(int argc, char** argv) {
  // Our own flag first; everything else belongs to Google Benchmark.
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg.substr(0, 12) == "--redis-url=") {
      g_url = std::string(arg.substr(12));
    } else if (arg.substr(0, 10) == "--tls-url=") {
      g_tls_url = std::string(arg.substr(10));
    } else if (arg.substr(0, 9) == "--tls-ca=") {
      g_tls_ca = std::string(arg.substr(9));
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (g_url.empty()) {
    if (const char* env = std::getenv("TTLCACHE_BENCH_REDIS_URL")) g_url = env;
  }
  if (const char* env = std::getenv("TTLCACHE_BENCH_TLS_URL"); env && g_tls_url.empty()) {
    g_tls_url = env;
  }
  if (const char* env = std::getenv("TTLCACHE_BENCH_TLS_CA"); env && g_tls_ca.empty()) {
    g_tls_ca = env;
  }
  if (g_url.empty()) {
    std::fprintf(stderr,
                 "bench_redis needs a Redis server: pass --redis-url=redis://127.0.0.1:PORT/0 or "
                 "set TTLCACHE_BENCH_REDIS_URL (see the comment at the top of bench_redis.cpp)\n");
    return 2;
  }
  try {
    populate();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_redis: cannot prepare the data on the server: %s\n", e.what());
    return 1;
  }
  if (!g_tls_url.empty()) {
    // Registered after the plain ones, so that the report lists them last.
    benchmark::RegisterBenchmark("get/ttlcache_tls", get_ttlcache_tls)->UseRealTime();
    benchmark::RegisterBenchmark("get_many_100/ttlcache_tls", get_many_ttlcache_tls)->UseRealTime();
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

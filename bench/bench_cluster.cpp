// Batch get of 1,000 keys: one Redis node against a 3-master Redis Cluster, in the same run.
// SPDX-License-Identifier: MIT
//
// Needs a running single node and a running cluster, named by environment variables:
//
//   bash tests/redis/redis_fixture.sh start /tmp/single      (port in /tmp/single/redis.info)
//   bash tests/redis/cluster_fixture.sh start /tmp/cluster   (ports in /tmp/cluster/cluster.info)
//   export TTLCACHE_BENCH_REDIS_URL=redis://127.0.0.1:<port>/0
//   export TTLCACHE_BENCH_CLUSTER_URL=redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>
//   build/<dir>/bench/bench_cluster --benchmark_repetitions=5 --benchmark_report_aggregates_only
//   bash tests/redis/redis_fixture.sh stop /tmp/single
//   bash tests/redis/cluster_fixture.sh stop /tmp/cluster
//
// The three cases read the same 1,000 keys of 100-byte values through RedisStore::get_many:
//   /single         one node: MGET (one round trip)
//   /cluster        keys spread over the 3 masters: GETs pipelined per node, nodes in parallel
//   /cluster_onetag namespace "{b}": every key in one slot, so one node, one pipeline of GETs
// Compare real time (items/s). All servers share the benchmark machine's cores.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "ttlcache/redis.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int key_count = 1000;
constexpr std::size_t value_size = 100;

std::unique_ptr<ttlcache::redis::RedisStore> make_store(const char* env, const std::string& ns,
                                                        std::string& error) {
  const char* url = std::getenv(env);
  if (url == nullptr || *url == '\0') {
    error = std::string(env) + " is not set (see the top of bench/bench_cluster.cpp)";
    return nullptr;
  }
  auto options = ttlcache::redis::RedisOptions::from_url(url);
  options.key_namespace = ns;
  auto store = std::make_unique<ttlcache::redis::RedisStore>(options);
  std::vector<ttlcache::ByteStore::Write> writes;
  writes.reserve(key_count);
  for (int i = 0; i < key_count; ++i) {
    writes.push_back({"k" + std::to_string(i), std::string(value_size, 'v'), 10min});
  }
  store->set_many(writes);
  return store;
}

void batch_get(benchmark::State& state, const char* env, const char* ns) {
  std::string error;
  std::unique_ptr<ttlcache::redis::RedisStore> store;
  try {
    store = make_store(env, ns, error);
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (!store) {
    state.SkipWithError(error.c_str());
    return;
  }
  std::vector<std::string> keys;
  keys.reserve(key_count);
  for (int i = 0; i < key_count; ++i) keys.push_back("k" + std::to_string(i));
  for (auto _ : state) {
    auto values = store->get_many(keys);
    benchmark::DoNotOptimize(values.data());
    if (!values.back()) state.SkipWithError("a key is missing");
  }
  state.SetItemsProcessed(state.iterations() * key_count);
  store->clear();
}

void BM_get_many_1000_single(benchmark::State& state) {
  batch_get(state, "TTLCACHE_BENCH_REDIS_URL", "benchcl");
}
void BM_get_many_1000_cluster(benchmark::State& state) {
  batch_get(state, "TTLCACHE_BENCH_CLUSTER_URL", "benchcl");
}
void BM_get_many_1000_cluster_onetag(benchmark::State& state) {
  batch_get(state, "TTLCACHE_BENCH_CLUSTER_URL", "{b}benchcl");
}

}  // namespace

BENCHMARK(BM_get_many_1000_single)->Name("get_many_1000/single")->UseRealTime();
BENCHMARK(BM_get_many_1000_cluster)->Name("get_many_1000/cluster")->UseRealTime();
BENCHMARK(BM_get_many_1000_cluster_onetag)->Name("get_many_1000/cluster_onetag")->UseRealTime();

BENCHMARK_MAIN();

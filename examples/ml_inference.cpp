// ML inference caching: batched predictions keyed by input hash, versioned model artifacts,
// and a feature cache of (entity, feature group) records.
// SPDX-License-Identifier: MIT
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include <ttlcache/ttlcache.hpp>

using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;

namespace {
int model_calls = 0;  // inputs the (simulated) model actually scored

// The expensive part: scores a batch of inputs in one call.
std::vector<double> run_model(const std::vector<std::string>& inputs) {
  model_calls += static_cast<int>(inputs.size());
  std::vector<double> out;
  out.reserve(inputs.size());
  for (const auto& in : inputs) out.push_back(static_cast<double>(in.size() % 7) / 7.0);
  return out;
}
}  // namespace

int main() {
  auto predictions = ttlcache::CacheBuilder<std::string, double>("predictions").build();
  const std::string model = "ranker-v3";

  // Batch inference: one lookup for the whole batch, the model sees only the misses, and their
  // scores are written back in one batch.
  auto predict = [&](const std::vector<std::string>& inputs) {
    std::vector<std::string> keys;
    std::unordered_map<std::string, std::string> input_of;
    for (const auto& in : inputs) {
      keys.push_back(ttlcache::make_key("pred", model, ttlcache::digest_hex(in)));
      input_of[keys.back()] = in;
    }
    auto score_missing = [&](const std::vector<std::string>& missing) {
      std::vector<std::string> batch;
      batch.reserve(missing.size());
      for (const auto& k : missing) batch.push_back(input_of[k]);
      return run_model(batch);
    };
    return predictions.get_many_or_load(keys, score_missing, 1h);
  };
  predict({"query a", "query b", "query c"});
  predict({"query b", "query c", "query d"});  // only "query d" reaches the model
  std::printf("predictions: 6 requested, %d scored by the model\n", model_calls);

  // Model artifacts: large binary values, the version in the key, so a new version never
  // serves the old weights (and the old ones age out by TTL).
  auto artifacts =
      ttlcache::CacheBuilder<std::string, Bytes>("artifacts")
          .max_weight(64 << 20,  // bound by bytes, not only by count
                      [](const std::string& k, const Bytes& v) { return k.size() + v.size(); })
          .build();
  int downloads = 0;
  auto weights = [&](const std::string& version) {
    return artifacts.get_or_load(
        ttlcache::make_key("model", model, version),
        [&] {
          ++downloads;
          return Bytes(4 << 20, 0x42);  // 4 MiB of "weights"
        },
        24h);
  };
  weights("3.0.1");
  weights("3.0.1");
  weights("3.0.2");
  std::printf("artifacts: 3 loads, %d downloads\n", downloads);

  // Feature cache: (entity, feature group) records.
  auto features = ttlcache::CacheBuilder<std::string, std::vector<double>>("features").build();
  const auto key = ttlcache::make_key("features", "user", 42, "engagement");
  features.set(key, {0.3, 12.0, 4.5}, 15min);
  const auto f = features.get(key);
  std::printf("features: user 42 engagement has %zu values\n", f ? f->size() : 0);

  return model_calls == 4 && downloads == 2 && f && f->size() == 3 ? 0 : 1;
}

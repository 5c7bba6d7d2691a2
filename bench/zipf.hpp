// Zipf-distributed key ranks and their popularity bound, shared by benchmarks, replay and tests.
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace ttlcache::bench {

/// Draws ranks 0..n-1 with P(rank) ~ 1 / (rank + 1)^s, by inverting a precomputed CDF.
class Zipf {
 public:
  Zipf(std::size_t n, double s) : cdf_(n) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
      cdf_[i] = sum;
    }
    for (double& c : cdf_) c /= sum;
  }

  template <class Rng>
  std::uint32_t operator()(Rng& rng) const {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    return static_cast<std::uint32_t>(
        std::min<std::ptrdiff_t>(it - cdf_.begin(), static_cast<std::ptrdiff_t>(cdf_.size()) - 1));
  }

  /// The hit ratio of always holding the `capacity` most popular keys: the best any policy that
  /// does not know the future can do on an independent Zipf stream.
  double popularity_bound(std::size_t capacity) const {
    if (capacity == 0) return 0;
    return cdf_[std::min(capacity, cdf_.size()) - 1];
  }

 private:
  std::vector<double> cdf_;
};

/// A rank -> key scramble (splitmix64), so popular keys are not small consecutive integers.
inline std::uint64_t scramble(std::uint64_t rank) noexcept {
  std::uint64_t z = rank + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// `length` Zipf(s) draws over n ranks from a fixed seed, as scrambled uint64 keys.
inline std::vector<std::uint64_t> zipf_keys(std::size_t n, double s, std::size_t length,
                                            std::uint64_t seed = 42) {
  const Zipf zipf(n, s);
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> out(length);
  for (auto& k : out) k = scramble(zipf(rng));
  return out;
}

}  // namespace ttlcache::bench

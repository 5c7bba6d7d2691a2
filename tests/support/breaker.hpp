// Shared by the circuit breaker tests (unit/test_circuit_breaker.cpp and its concurrency case in
// unit/test_concurrency_backends.cpp): a recorder of transitions, and breaker options.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "ttlcache/circuit_breaker.hpp"

namespace ttlcache_test {

/// Records every transition the breaker reports, as "from->to".
struct BreakerRecorder {
  std::mutex mutex;
  std::vector<std::string> changes;
  ttlcache::CircuitBreaker::Listener listener() {
    return [this](ttlcache::BreakerState from, ttlcache::BreakerState to) {
      std::lock_guard<std::mutex> lock(mutex);
      changes.push_back(std::string(ttlcache::to_string(from)) + "->" +
                        std::string(ttlcache::to_string(to)));
    };
  }
};

inline ttlcache::BreakerOptions breaker_options(std::uint32_t threshold,
                                                std::chrono::milliseconds open_for) {
  ttlcache::BreakerOptions o;
  o.failure_threshold = threshold;
  o.open_for = open_for;
  return o;
}

}  // namespace ttlcache_test

// Shared by the ResilientBackend tests (unit/test_resilient_backend.cpp and its concurrency case
// in unit/test_concurrency_backends.cpp): a store that fails on demand, and wrapper options.
// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "ttlcache/resilient_backend.hpp"
#include "ttlcache/ttlcache.hpp"

namespace ttlcache_test {

/// A remote-looking store whose calls fail while `down` (as Redis does when unreachable), and
/// that counts the calls that reached it.
template <class V>
class FlakyStoreOf final : public ttlcache::Backend<std::string, V>, public ttlcache::StatsSource {
 public:
  explicit FlakyStoreOf(const std::shared_ptr<const ttlcache::Clock>& clock)
      : data_(memory(clock)) {}

  std::atomic<bool> down{false};
  std::atomic<int> calls{0};

  std::string_view name() const noexcept override { return "flaky"; }
  std::optional<V> get(const std::string& key) override {
    check("GET", key);
    return data_.get(key);
  }
  void set(const std::string& key, V value, std::chrono::milliseconds ttl) override {
    if (ttl.count() <= 0) ttlcache::detail::throw_bad_ttl("flaky", ttl.count());
    check("SET", key);
    data_.set(key, std::move(value), ttl);
  }
  bool erase(const std::string& key) override {
    check("UNLINK", key);
    return data_.erase(key);
  }
  bool contains(const std::string& key) override {
    check("EXISTS", key);
    return data_.contains(key);
  }
  std::optional<std::chrono::milliseconds> ttl(const std::string& key) override {
    check("PTTL", key);
    return data_.ttl(key);
  }
  void clear() override {
    check("SCAN+UNLINK", "*");
    data_.clear();
  }
  std::size_t size() override {
    check("DBSIZE", "");
    return data_.size();
  }
  void collect_stats(ttlcache::BackendStats& out) const noexcept override {
    out.entries = 42;  // a marker: forwarded through the wrapper
  }

  /// Behind the wrapper's back (what Redis holds).
  ttlcache::MemoryBackend<std::string, V>& raw() { return data_; }

 private:
  static ttlcache::MemoryOptions<std::string, V> memory(
      const std::shared_ptr<const ttlcache::Clock>& clock) {
    ttlcache::MemoryOptions<std::string, V> m;
    m.clock = clock;
    return m;
  }
  void check(const char* command, const std::string& key) {
    calls.fetch_add(1);
    if (down)
      throw ttlcache::connection_error("flaky",
                                       std::string(command) + " " + key + ": connection refused");
  }
  ttlcache::MemoryBackend<std::string, V> data_;
};
using FlakyStore = FlakyStoreOf<std::string>;

inline ttlcache::ResilientOptions resilient_options(ttlcache::FailurePolicy policy,
                                                    std::shared_ptr<ttlcache::FakeClock> clock,
                                                    std::uint32_t threshold = 3) {
  ttlcache::ResilientOptions o;
  o.policy = policy;
  o.breaker.failure_threshold = threshold;
  o.breaker.open_for = std::chrono::seconds(1);
  o.clock = std::move(clock);
  return o;
}

}  // namespace ttlcache_test

// Shared by the adaptive TTL tests: their DynamicTTL configuration, a queue that runs background
// loads when the test says so, a TtlPolicy that records what the cache tells it, and the fixtures
// of test_adaptive_ttl.cpp and test_adaptive_groups.cpp (also used by their concurrency cases in
// test_concurrency_dynamic_ttl.cpp).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ttlcache/clock.hpp"
#include "ttlcache/dynamic_ttl.hpp"
#include "ttlcache/load_options.hpp"
#include "ttlcache/ttl_policy.hpp"

namespace ttlcache_test {

/// Type "t" 300 s and "other" 60 s in the table, bounds [1 s, 7200 s], no jitter, UTC,
/// adaptation on up to max_factor, at most max_groups key groups per type.
inline ttlcache::DynamicTtlConfig adaptive_config(double max_factor,
                                                  std::size_t max_groups = 1000) {
  using namespace std::chrono_literals;
  ttlcache::DynamicTtlConfig c;
  c.utc_offset = 0min;
  c.jitter_percent = 0.0;
  c.min_ttl = 1s;
  c.max_ttl = 7200s;
  c.content_types = {ttlcache::ContentTypeTtl("t", 300s), ttlcache::ContentTypeTtl("other", 60s)};
  c.adaptive.enabled = true;
  c.adaptive.max_factor = max_factor;
  c.adaptive.max_groups = max_groups;
  return c;
}

/// Background loads are queued and run when the test drains them: deterministic, one thread.
struct TaskQueue {
  std::deque<std::function<void()>> tasks;
  ttlcache::Executor executor() {
    return [this](std::function<void()> t) { tasks.push_back(std::move(t)); };
  }
  /// Runs the queued tasks (and those they queue), at most 1000.
  std::size_t drain() {
    std::size_t n = 0;
    while (!tasks.empty() && n < 1000) {
      auto t = std::move(tasks.front());
      tasks.pop_front();
      t();
      ++n;
    }
    return n;
  }
};

/// A policy that records what it is told (thread-safe). Every type gets 60 s; with a key group,
/// group "a" gets 10 s, "b" 20 s, any other 60 s.
class RecordingPolicy final : public ttlcache::TtlPolicy {
 public:
  using Kind = ttlcache::TtlObservation::Kind;
  struct Seen {
    Kind kind;
    std::string type;
    std::string group;
    std::chrono::milliseconds age;
  };
  explicit RecordingPolicy(bool adapts = true) : adapts_(adapts) {}
  std::chrono::milliseconds ttl_for(std::string_view, const ttlcache::Context&) const override {
    return std::chrono::seconds(60);
  }
  std::chrono::milliseconds ttl_for_group(std::string_view, std::string_view group,
                                          const ttlcache::Context&) const override {
    return std::chrono::seconds(group == "a" ? 10 : group == "b" ? 20 : 60);
  }
  void observe(const ttlcache::TtlObservation& o) const noexcept override {
    const std::lock_guard<std::mutex> lock(mutex_);
    seen_.push_back({o.kind, std::string(o.content_type), std::string(o.group), o.age});
  }
  bool adapts() const noexcept override { return adapts_; }

  std::vector<Seen> seen() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return seen_;
  }
  /// The observations of kind reload_changed / reload_unchanged, in order.
  std::vector<Seen> reloads() const {
    std::vector<Seen> out;
    for (const auto& s : seen()) {
      if (s.kind == Kind::reload_changed || s.kind == Kind::reload_unchanged) out.push_back(s);
    }
    return out;
  }
  std::size_t count(Kind kind) const {
    std::size_t n = 0;
    for (const auto& s : seen()) n += s.kind == kind ? 1 : 0;
    return n;
  }
  /// The groups of the observations of kind, in order.
  std::vector<std::string> groups_of(Kind kind) const {
    std::vector<std::string> out;
    for (const auto& s : seen()) {
      if (s.kind == kind) out.push_back(s.group);
    }
    return out;
  }
  void forget() {
    const std::lock_guard<std::mutex> lock(mutex_);
    seen_.clear();
  }

 private:
  bool adapts_;
  mutable std::mutex mutex_;
  mutable std::vector<Seen> seen_;
};

/// A DynamicTTL on a fake clock (adaptive_config(100.0) unless told), observed for type "t".
struct AdaptiveFixture {
  std::shared_ptr<ttlcache::FakeClock> clock = std::make_shared<ttlcache::FakeClock>();
  std::shared_ptr<ttlcache::DynamicTTL> policy;

  explicit AdaptiveFixture(ttlcache::DynamicTtlConfig config = adaptive_config(100.0))
      : policy(std::make_shared<ttlcache::DynamicTTL>(std::move(config), clock)) {}

  void see(ttlcache::TtlObservation::Kind kind, std::string_view type = "t") const {
    policy->observe(ttlcache::TtlObservation{kind, type, clock->now()});
  }
  double ttl_s(std::string_view type = "t") const {
    return static_cast<double>(policy->ttl_for(type, {}).count()) / 1000.0;
  }
  double factor() const {
    for (const auto& s : policy->adaptive_stats()) {
      if (s.content_type == "t") return s.factor;
    }
    return 0.0;
  }
};

/// The same with key groups (adaptive_config(8.0) unless told).
struct GroupFixture {
  std::shared_ptr<ttlcache::FakeClock> clock = std::make_shared<ttlcache::FakeClock>();
  std::shared_ptr<ttlcache::DynamicTTL> policy;

  explicit GroupFixture(ttlcache::DynamicTtlConfig config = adaptive_config(8.0))
      : policy(std::make_shared<ttlcache::DynamicTTL>(std::move(config), clock)) {}

  void see(ttlcache::TtlObservation::Kind kind, std::string_view group,
           std::string_view type = "t") const {
    ttlcache::TtlObservation o{kind, type, clock->now()};
    o.group = group;
    policy->observe(o);
  }
  double ttl_s(std::string_view group, std::string_view type = "t") const {
    return static_cast<double>(policy->ttl_for_group(type, group, {}).count()) / 1000.0;
  }
  const ttlcache::AdaptiveTypeStats* stats_of(const std::vector<ttlcache::AdaptiveTypeStats>& all,
                                              std::string_view type = "t") const {
    for (const auto& s : all) {
      if (s.content_type == type) return &s;
    }
    return nullptr;
  }
};

}  // namespace ttlcache_test

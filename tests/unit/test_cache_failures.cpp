// The load engine when the cache itself fails: a loaded value is always returned, and with
// fail-safe an unreadable cache is a miss (the source is asked) rather than an error.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ttlcache/cache.hpp"
#include "ttlcache/fail_safe.hpp"
#include "ttlcache/memory_backend.hpp"

using namespace std::chrono_literals;

namespace {

// A remote-looking store of X whose reads and writes fail on demand.
template <class X>
class FlakyStore final : public ttlcache::Backend<std::string, X> {
 public:
  std::atomic<bool> fail_reads{false};
  std::atomic<bool> fail_writes{false};
  std::string_view name() const noexcept override { return "flaky"; }
  std::optional<X> get(const std::string& key) override {
    if (fail_reads) throw ttlcache::connection_error("flaky", "GET " + key + ": down");
    return inner_.get(key);
  }
  std::vector<std::optional<X>> get_many(const std::vector<std::string>& keys) override {
    if (fail_reads) throw ttlcache::connection_error("flaky", "MGET: down");
    return inner_.get_many(keys);
  }
  void set(const std::string& key, X value, std::chrono::milliseconds ttl) override {
    if (fail_writes) throw ttlcache::connection_error("flaky", "SET " + key + ": down");
    inner_.set(key, std::move(value), ttl);
  }
  void set_many(std::vector<ttlcache::Write<std::string, X>> items) override {
    if (fail_writes) throw ttlcache::connection_error("flaky", "SET batch: down");
    inner_.set_many(std::move(items));
  }
  bool erase(const std::string& key) override { return inner_.erase(key); }
  bool contains(const std::string& key) override { return inner_.contains(key); }
  std::optional<std::chrono::milliseconds> ttl(const std::string& key) override {
    return inner_.ttl(key);
  }
  void clear() override { inner_.clear(); }
  std::size_t size() override { return inner_.size(); }

 private:
  ttlcache::MemoryBackend<std::string, X> inner_;
};

}  // namespace

TEST_CASE("a loaded value is returned even when storing it fails", "[loading][failures]") {
  auto store = std::make_shared<FlakyStore<std::string>>();
  ttlcache::Cache<std::string, std::string> cache(store);
  store->fail_writes = true;
  int loads = 0;
  CHECK(cache.get_or_load("k", [&] {
    ++loads;
    return std::string("from the database");
  }) == "from the database");
  CHECK(loads == 1);
  CHECK(cache.stats().backend_errors == 1);  // counted, not thrown
  // Batches too: every loaded value is answered.
  auto many =
      cache.get_many_or_load({"a", "b"}, [](const std::vector<std::string>& keys) { return keys; });
  CHECK(many[0] == "a");
  CHECK(many[1] == "b");
}

TEST_CASE("without fail-safe, an unreadable cache is the caller's error", "[loading][failures]") {
  auto store = std::make_shared<FlakyStore<std::string>>();
  ttlcache::Cache<std::string, std::string> cache(store);
  store->fail_reads = true;
  int loads = 0;
  CHECK_THROWS_AS(cache.get_or_load("k",
                                    [&] {
                                      ++loads;
                                      return std::string("v");
                                    }),
                  ttlcache::connection_error);
  CHECK(loads == 0);
}

TEST_CASE("fail-safe covers the cache's own failures: an unreadable cache is a miss",
          "[loading][failures]") {
  auto clock = std::make_shared<ttlcache::FakeClock>();
  auto store = std::make_shared<FlakyStore<ttlcache::Timed<std::string>>>();
  ttlcache::FailSafeOptions fs;
  fs.clock = clock;
  auto backend = std::make_shared<ttlcache::FailSafeBackend<std::string, std::string>>(store, fs);
  ttlcache::CacheOptions options;
  options.loading.fail_safe = true;
  options.stats.clock = clock;
  ttlcache::Cache<std::string, std::string> cache(backend, options);

  CHECK(cache.get_or_load(
            "k", [] { return std::string("v1"); }, 1min) == "v1");
  store->fail_reads = true;
  store->fail_writes = true;
  int loads = 0;
  for (int i = 0; i < 3; ++i) {
    CHECK(cache.get_or_load(
              "k",
              [&] {
                ++loads;
                return std::string("v2");
              },
              1min) == "v2");
  }
  CHECK(loads == 3);  // the source answers while the cache cannot
  auto many =
      cache.get_many_or_load({"x"}, [](const std::vector<std::string>& keys) { return keys; });
  CHECK(many[0] == "x");
  // Back to normal: the cache serves again without loading.
  store->fail_reads = false;
  store->fail_writes = false;
  CHECK(cache.get_or_load(
            "k",
            [&] {
              ++loads;
              return std::string("v3");
            },
            1min) == "v1");  // the copy stored before the outage is still fresh
  CHECK(loads == 3);
}

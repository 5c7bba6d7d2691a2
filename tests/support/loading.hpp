// Shared by the loading tests (unit/test_loading.cpp and their concurrency cases in
// unit/test_concurrency_loading.cpp): a fail-safe memory backend on a fake clock, options whose
// statistics read that clock, and a backend that counts the batch calls reaching it.
// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ttlcache/ttlcache.hpp"

namespace ttlcache_test {

inline std::shared_ptr<ttlcache::FailSafeBackend<std::string, std::string>> fail_safe_backend(
    const std::shared_ptr<ttlcache::FakeClock>& clock,
    std::chrono::milliseconds max_stale = std::chrono::hours(1)) {
  ttlcache::MemoryOptions<std::string, ttlcache::Timed<std::string>> memory;
  memory.clock = clock;
  ttlcache::FailSafeOptions fs;
  fs.max_stale = max_stale;
  return ttlcache::make_fail_safe_memory_backend<std::string, std::string>(memory, fs);
}

inline ttlcache::CacheOptions with_clock(const std::shared_ptr<ttlcache::FakeClock>& clock) {
  ttlcache::CacheOptions options;
  options.stats.clock = clock;
  return options;
}

// Counts the batch calls that reach a backend.
class CountingBackend final : public ttlcache::Backend<std::string, std::string> {
 public:
  std::shared_ptr<ttlcache::MemoryBackend<std::string, std::string>> inner =
      std::make_shared<ttlcache::MemoryBackend<std::string, std::string>>();
  std::atomic<int> get_many_calls{0}, set_many_calls{0}, single_gets{0};

  std::string_view name() const noexcept override { return "counting"; }
  std::optional<std::string> get(const std::string& key) override {
    ++single_gets;
    return inner->get(key);
  }
  void set(const std::string& key, std::string value, std::chrono::milliseconds ttl) override {
    inner->set(key, std::move(value), ttl);
  }
  bool erase(const std::string& key) override { return inner->erase(key); }
  bool contains(const std::string& key) override { return inner->contains(key); }
  std::optional<std::chrono::milliseconds> ttl(const std::string& key) override {
    return inner->ttl(key);
  }
  std::vector<std::optional<std::string>> get_many(const std::vector<std::string>& keys) override {
    ++get_many_calls;
    return inner->get_many(keys);
  }
  void set_many(std::vector<ttlcache::Write<std::string, std::string>> items) override {
    ++set_many_calls;
    inner->set_many(std::move(items));
  }
  void clear() override { inner->clear(); }
  std::size_t size() override { return inner->size(); }
};

}  // namespace ttlcache_test

// A ByteStore over the in-process backend: exercises CodecBackend and codecs without a server.
// SPDX-License-Identifier: MIT
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ttlcache/byte_store.hpp"
#include "ttlcache/memory_backend.hpp"

namespace ttlcache::testing {

class MemoryByteStore final : public ByteStore {
 public:
  explicit MemoryByteStore(std::shared_ptr<const Clock> clock = nullptr) {
    MemoryOptions<std::string, std::string> options;
    options.clock = std::move(clock);
    backend_ = std::make_unique<MemoryBackend<std::string, std::string>>(std::move(options));
  }

  std::string_view name() const noexcept override { return "memory-bytes"; }
  std::optional<std::string> get(std::string_view key) override {
    return backend_->get(std::string(key));
  }
  void set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) override {
    backend_->set(std::string(key), std::string(value), ttl);
  }
  bool erase(std::string_view key) override { return backend_->erase(std::string(key)); }
  bool contains(std::string_view key) override { return backend_->contains(std::string(key)); }
  std::optional<std::chrono::milliseconds> ttl(std::string_view key) override {
    return backend_->ttl(std::string(key));
  }
  std::vector<std::optional<std::string>> get_many(const std::vector<std::string>& keys) override {
    return backend_->get_many(keys);
  }
  void set_many(const std::vector<Write>& items) override {
    for (const auto& item : items) backend_->set(item.key, item.value, item.ttl);
  }
  std::size_t erase_prefix(std::string_view) override {
    throw std::logic_error("MemoryByteStore (a test store) has no prefix deletion");
  }
  void clear() override { backend_->clear(); }
  std::size_t size() override { return backend_->size(); }

  /// Plants raw bytes under a key, as a foreign writer would.
  void put_raw(const std::string& key, std::string bytes) {
    backend_->set(key, std::move(bytes), std::chrono::minutes(10));
  }

 private:
  std::unique_ptr<MemoryBackend<std::string, std::string>> backend_;
};

}  // namespace ttlcache::testing

// Shared by the tag tests (unit/test_invalidation.cpp and its concurrency case in
// unit/test_concurrency_backends.cpp): a tag-aware memory backend over a memory stamp store, on a
// fake clock.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "ttlcache/invalidation.hpp"
#include "ttlcache/tags.hpp"
#include "ttlcache/ttlcache.hpp"

namespace ttlcache_test {

struct TagFixture {
  std::shared_ptr<ttlcache::FakeClock> clock = std::make_shared<ttlcache::FakeClock>();
  std::shared_ptr<ttlcache::MemoryStampStore> stamps;
  std::shared_ptr<ttlcache::TaggedBackend<std::string, std::string>> backend;

  explicit TagFixture(std::size_t max_stamps = 1'000'000) {
    ttlcache::MemoryStampOptions so;
    so.clock = clock;
    so.max_stamps = max_stamps;
    stamps = std::make_shared<ttlcache::MemoryStampStore>(so);
    ttlcache::MemoryOptions<std::string, ttlcache::Tagged<std::string>> memory;
    memory.clock = clock;
    memory.shards = 4;
    backend = ttlcache::make_tagged_memory_backend<std::string, std::string>(memory, {}, stamps);
  }
};

}  // namespace ttlcache_test

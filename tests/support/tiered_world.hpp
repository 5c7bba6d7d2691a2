// Shared by the tiered-cache tests (unit/test_tiered.cpp and its concurrency case in
// unit/test_concurrency_backends.cpp): service instances over one in-process L2, one tag store
// and one in-process bus, on a fake clock.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "ttlcache/invalidation.hpp"
#include "ttlcache/tiered_backend.hpp"
#include "ttlcache/ttlcache.hpp"

namespace ttlcache_test {

using TieredL2 = ttlcache::detail::IndexedMemoryBackend<std::string, ttlcache::Tagged<std::string>>;

/// What the instances of a service share: the L2 (standing in for Redis), the tag versions
/// and the hub of the bus.
struct TieredWorld {
  std::shared_ptr<ttlcache::FakeClock> clock = std::make_shared<ttlcache::FakeClock>();
  std::shared_ptr<TieredL2> l2;
  std::shared_ptr<ttlcache::MemoryStampStore> stamps;
  std::shared_ptr<ttlcache::InProcessHub> hub = std::make_shared<ttlcache::InProcessHub>();

  TieredWorld() {
    ttlcache::MemoryOptions<std::string, ttlcache::Tagged<std::string>> memory;
    memory.clock = clock;
    l2 = std::make_shared<TieredL2>(memory);
    ttlcache::MemoryStampOptions so;
    so.clock = clock;
    stamps = std::make_shared<ttlcache::MemoryStampStore>(so);
  }
};

/// One service instance: its own bus endpoint, L1 and Cache.
struct TieredInstance {
  std::shared_ptr<ttlcache::InProcessBus> bus;
  ttlcache::TieredTagged<std::string, std::string> parts;
  std::unique_ptr<ttlcache::Cache<std::string, std::string>> cache;

  explicit TieredInstance(TieredWorld& world,
                          std::chrono::milliseconds l1_max_ttl = std::chrono::seconds(5)) {
    bus = std::make_shared<ttlcache::InProcessBus>(world.hub);
    ttlcache::TieredOptions options;
    options.l1_max_ttl = l1_max_ttl;
    options.scope = "files";
    std::weak_ptr<TieredL2> weak = world.l2;
    options.l2_erase_prefix = [weak](std::string_view prefix) {
      return weak.lock()->erase_prefix(prefix);
    };
    ttlcache::MemoryOptions<std::string, ttlcache::Tagged<std::string>> l1;
    l1.clock = world.clock;
    l1.max_entries = 1000;
    parts = ttlcache::make_tiered_tagged<std::string, std::string>(world.l2, world.stamps, bus,
                                                                   options, l1);
    cache = std::make_unique<ttlcache::Cache<std::string, std::string>>(parts.backend);
  }
  ttlcache::TieredStats stats() const { return parts.tiered->stats(); }
  bool in_l1(const std::string& key) { return parts.tiered->l1().contains(key); }
};

}  // namespace ttlcache_test

// Shared by the cluster lock tests (test_redis_cluster_lock.cpp and its concurrency case in
// test_redis_cluster_concurrency.cpp): lock keys, and lock names on every master.
// SPDX-License-Identifier: MIT
#pragma once

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cluster_test_support.hpp"
#include "redis/cluster.hpp"

namespace ttlcache_test {

inline std::string lock_key(const std::string& ns, const std::string& name) {
  return ns + "@lock:" + name;
}

// per_master lock names for each master of the cluster, keyed by the master's port: the names
// hash to different slots, and together they cover every master.
inline std::map<int, std::vector<std::string>> names_on_every_master(const ClusterSetup& cluster,
                                                                     const std::string& ns,
                                                                     std::size_t per_master) {
  const auto masters = cluster.masters();
  REQUIRE(masters.size() == 3);
  std::map<int, std::vector<std::string>> out;
  std::set<std::uint16_t> slots;
  std::size_t found = 0;
  for (int i = 0; found < per_master * masters.size() && i < 10000; ++i) {
    const std::string name = "job-" + std::to_string(i);
    const auto slot = ttlcache::redis::detail::hash_slot(lock_key(ns, name));
    if (!slots.insert(slot).second) continue;
    auto& names = out[cluster.master_of_slot(slot, masters.front())];
    if (names.size() < per_master) {
      names.push_back(name);
      ++found;
    }
  }
  REQUIRE(out.size() == masters.size());
  for (const auto& entry : out) REQUIRE(entry.second.size() == per_master);
  return out;
}

}  // namespace ttlcache_test

// Prints the TTLs a DynamicTTL policy gives for a table of (content type, context, hour).
// SPDX-License-Identifier: MIT
//
//   dynamic_ttl_table                  the shipped default policy
//   dynamic_ttl_table policy.json      a policy from a file
//   dynamic_ttl_table --dump-default   prints the default policy as JSON
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "ttlcache/clock.hpp"
#include "ttlcache/dynamic_ttl.hpp"
#include "ttlcache/errors.hpp"

namespace {

// 2024-01-01 was a Monday; hours are read in UTC below, so the table is the same everywhere.
std::chrono::system_clock::time_point monday_at(int hour) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1704067200LL + hour * 3600LL));
}

std::string seconds(std::chrono::milliseconds ttl) {
  return ttl.count() % 1000 == 0 ? fmt::format("{}s", ttl.count() / 1000)
                                 : fmt::format("{:.1f}s", static_cast<double>(ttl.count()) / 1000);
}

}  // namespace

int main(int argc, char** argv) {
  using ttlcache::Context;
  using ttlcache::DynamicTtlConfig;
  try {
    if (argc > 1 && std::string(argv[1]) == "--dump-default") {
      std::printf("%s\n", DynamicTtlConfig::defaults().to_json().c_str());
      return 0;
    }
    DynamicTtlConfig config =
        argc > 1 ? DynamicTtlConfig::from_file(argv[1]) : DynamicTtlConfig::defaults();
    // The table shows the deterministic part: UTC hours and no jitter. The last lines put
    // jitter back to show what explain() reports.
    const double jitter = config.jitter_percent;
    config.utc_offset = std::chrono::minutes(0);
    config.jitter_percent = 0.0;
    for (auto& type : config.content_types) type.jitter_percent.reset();
    auto clock = std::make_shared<ttlcache::FakeClock>(monday_at(0));
    ttlcache::DynamicTTL policy(config, clock);

    const std::vector<std::pair<std::string, Context>> contexts = {
        {"-", {}},
        {"favorite", {{"is_favorite", true}}},
        {"edited 10 min ago", {{"last_modified_hours_ago", 0.17}}},
        {"hot", {{"access_frequency", "high"}}},
        {"premium user", {{"user_tier", "premium"}}},
        {"favorite+hot", {{"is_favorite", true}, {"access_frequency", "high"}}},
        {"premium+edited", {{"user_tier", "premium"}, {"last_modified_hours_ago", 0.5}}},
    };
    const std::vector<std::string> types = {"file_list", "file_content", "user_stats",
                                            "search_results", "unknown_type"};
    const std::vector<int> hours = {3, 10, 20};

    std::printf("%-16s %-18s", "content type", "context");
    for (int hour : hours) std::printf(" %9s", fmt::format("{:02}:00", hour).c_str());
    std::printf("\n");
    for (const auto& type : types) {
      for (const auto& [label, context] : contexts) {
        std::printf("%-16s %-18s", type.c_str(), label.c_str());
        for (int hour : hours) {
          clock->set_wall(monday_at(hour));
          std::printf(" %9s", seconds(policy.ttl_for(type, context)).c_str());
        }
        std::printf("\n");
      }
    }

    config.jitter_percent = jitter;
    config.seed = 2024;
    policy.reload(config);
    clock->set_wall(monday_at(10));
    std::printf("\nwith +-%g%% jitter (seeded), at 10:00:\n", jitter);
    for (int i = 0; i < 3; ++i) {
      const auto e = policy.explain("file_list", {{"is_favorite", true}});
      std::printf("  %s\n", e.to_string().c_str());
    }
    return 0;
  } catch (const ttlcache::config_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

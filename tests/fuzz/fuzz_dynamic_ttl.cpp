// libFuzzer target for the DynamicTTL JSON loader: no crash, only config_error, and invariants.
// SPDX-License-Identifier: MIT
//
// For any input, from_json either throws ttlcache::config_error or returns a config that
// (1) dumps and reloads to an equal config with the same JSON, and (2) compiles into a policy
// whose TTLs lie within each content type's [min_ttl, max_ttl] at any hour, for contexts built
// from the config's own rule operands. Anything else (another exception, a sanitizer report,
// an abort below) is a finding.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "ttlcache/clock.hpp"
#include "ttlcache/dynamic_ttl.hpp"
#include "ttlcache/errors.hpp"

namespace {

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_dynamic_ttl: %s\n%s\n", what, detail.c_str());
  std::abort();
}

void add_rule_contexts(const std::vector<ttlcache::TtlRule>& rules,
                       std::vector<ttlcache::Context>& out) {
  ttlcache::Context matching;
  ttlcache::Context other_types;
  for (const auto& rule : rules) {
    const auto& operand =
        rule.op == ttlcache::RuleOp::in && !rule.values.empty() ? rule.values.front() : rule.value;
    std::visit([&](const auto& v) { matching.set(rule.field, v); }, operand);
    other_types.set(rule.field, "not-a-number");
  }
  out.push_back(std::move(matching));
  out.push_back(std::move(other_types));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ttlcache::DynamicTtlConfig config;
  try {
    config = ttlcache::DynamicTtlConfig::from_json(text);
  } catch (const ttlcache::config_error&) {
    return 0;  // rejected with a path and a reason: the expected outcome for most inputs
  }

  const std::string json = config.to_json();
  ttlcache::DynamicTtlConfig again;
  try {
    again = ttlcache::DynamicTtlConfig::from_json(json);
  } catch (const ttlcache::config_error& e) {
    finding("an accepted config's own JSON was rejected", std::string(e.what()) + "\n" + json);
  }
  if (!(again == config)) finding("round trip changed the config", json);
  if (again.to_json() != json) finding("round trip changed the JSON", json);

  std::vector<ttlcache::Context> contexts{ttlcache::Context{}};
  add_rule_contexts(config.rules, contexts);
  std::vector<std::string> types{"", "\x01unknown"};
  for (const auto& t : config.content_types) {
    types.push_back(t.name);
    if (t.rules) add_rule_contexts(*t.rules, contexts);
    add_rule_contexts(t.extra_rules, contexts);
    if (types.size() > 64) break;  // keep each input cheap
  }

  auto clock = std::make_shared<ttlcache::FakeClock>();
  ttlcache::DynamicTTL policy(config, clock);
  const auto bounds = [&config](const std::string& name) {
    for (const auto& t : config.content_types) {
      if (t.name == name) {
        return std::make_pair(t.min_ttl.value_or(config.min_ttl),
                              t.max_ttl.value_or(config.max_ttl));
      }
    }
    return std::make_pair(config.min_ttl, config.max_ttl);
  };
  // Monday 2024-01-01 00:00 UTC, then every 7 h 13 min: all days and many minutes of the day.
  for (int step = 0; step < 24; ++step) {
    clock->set_wall(std::chrono::system_clock::time_point(
        std::chrono::seconds(1704067200LL + step * (7 * 3600LL + 13 * 60LL))));
    for (const auto& type : types) {
      const auto [min, max] = bounds(type);
      for (const auto& context : contexts) {
        const auto ttl = policy.ttl_for(type, context);
        if (ttl < min || ttl > max || ttl.count() <= 0) {
          finding("TTL outside [min, max]", policy.explain(type, context).to_string());
        }
      }
    }
  }
  const auto e = policy.explain(types.back(), contexts.back());
  if (e.to_string().empty()) finding("empty explanation", json);
  return 0;
}

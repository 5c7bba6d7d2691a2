// JSON and Prometheus text exposition of CacheStats (compiled once into the core library).
// SPDX-License-Identifier: MIT
#include "ttlcache/metrics_export.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "ttlcache/errors.hpp"

namespace ttlcache {

namespace {

constexpr double ns_per_second = 1e9;

double seconds(double ns) { return ns / ns_per_second; }

nlohmann::json histogram_json(const HistogramStats& h) {
  nlohmann::json j;
  j["count"] = h.count;
  j["sum_seconds"] = seconds(static_cast<double>(h.sum_ns));
  j["mean_seconds"] = seconds(h.mean_ns());
  j["p50_seconds"] = seconds(h.p50_ns);
  j["p90_seconds"] = seconds(h.p90_ns);
  j["p99_seconds"] = seconds(h.p99_ns);
  // Cumulative, as in the exposition format, so the two exports read the same way.
  nlohmann::json buckets = nlohmann::json::array();
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i + 1 < HistogramStats::bucket_count; ++i) {
    cumulative += h.buckets[i];
    buckets.push_back(
        {{"le_seconds", seconds(static_cast<double>(HistogramStats::upper_bound_ns(i)))},
         {"count", cumulative}});
  }
  j["buckets"] = std::move(buckets);
  return j;
}

nlohmann::json window_json(const WindowStats& w) {
  return {{"seconds", seconds(static_cast<double>(w.span.count()))},
          {"hits", w.hits},
          {"misses", w.misses},
          {"hit_rate", w.hit_rate()}};
}

template <class T>
nlohmann::json optional_json(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// ---- Prometheus ----

std::string escape_help(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

using Labels = std::vector<std::pair<std::string_view, std::string>>;

// Collects samples per family, so that each family's HELP and TYPE appear once, followed by all
// its samples from every cache (the format requires a family's lines to be contiguous).
class Exposition {
 public:
  void counter(std::string_view name, std::string_view help, const Labels& labels,
               std::uint64_t value) {
    family(name, help, "counter").push_back(sample(name, labels, std::to_string(value)));
  }
  void gauge(std::string_view name, std::string_view help, const Labels& labels, double value) {
    family(name, help, "gauge").push_back(sample(name, labels, format_value(value)));
  }
  void histogram(std::string_view name, std::string_view help, const Labels& labels,
                 const HistogramStats& h) {
    auto& lines = family(name, help, "histogram");
    const std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i + 1 < HistogramStats::bucket_count; ++i) {
      cumulative += h.buckets[i];
      Labels with_le = labels;
      with_le.emplace_back(
          "le", format_value(seconds(static_cast<double>(HistogramStats::upper_bound_ns(i)))));
      lines.push_back(sample(bucket, with_le, std::to_string(cumulative)));
    }
    Labels inf = labels;
    inf.emplace_back("le", "+Inf");
    lines.push_back(sample(bucket, inf, std::to_string(h.count)));
    lines.push_back(sample(std::string(name) + "_sum", labels,
                           format_value(seconds(static_cast<double>(h.sum_ns)))));
    lines.push_back(sample(std::string(name) + "_count", labels, std::to_string(h.count)));
  }

  std::string text() const {
    std::string out;
    for (const auto& f : families_) {
      if (f.lines.empty()) continue;
      out +=
          fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, escape_help(f.help), f.name, f.type);
      for (const auto& line : f.lines) {
        out += line;
        out += '\n';
      }
    }
    return out;
  }

 private:
  struct Family {
    std::string name;
    std::string help;
    std::string type;
    std::vector<std::string> lines;
  };

  std::vector<std::string>& family(std::string_view name, std::string_view help,
                                   std::string_view type) {
    auto it = index_.find(name);
    if (it != index_.end()) return families_[it->second].lines;
    index_.emplace(std::string(name), families_.size());
    families_.push_back(Family{std::string(name), std::string(help), std::string(type), {}});
    return families_.back().lines;
  }

  static std::string sample(std::string_view name, const Labels& labels, const std::string& value) {
    std::string out(name);
    if (!labels.empty()) {
      out += '{';
      bool first = true;
      for (const auto& [label, v] : labels) {
        if (!first) out += ',';
        first = false;
        out += label;
        out += "=\"";
        out += detail::prometheus_escape_label(v);
        out += '"';
      }
      out += '}';
    }
    out += ' ';
    out += value;
    return out;
  }

  std::vector<Family> families_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

void add_cache(Exposition& e, const CacheStats& s) {
  const Labels cache{{"cache", s.cache}};
  auto with = [&](std::string_view label, std::string value) {
    Labels l = cache;
    l.emplace_back(label, std::move(value));
    return l;
  };

  if (s.enabled) {
    e.counter("ttlcache_hits_total", "Reads that found a live entry.", cache, s.hits);
    e.counter("ttlcache_misses_total", "Reads that found no live entry.", cache, s.misses);
    e.counter("ttlcache_loads_total", "Loader calls that returned a value.", cache, s.loads);
    e.counter("ttlcache_load_failures_total", "Loader calls that threw.", cache, s.load_failures);
    e.counter("ttlcache_stale_served_total", "Stale values served in place of a failed load.",
              cache, s.stale_served);
    e.counter("ttlcache_backend_errors_total", "Backend calls that failed with a backend error.",
              cache, s.backend_errors);
    for (std::size_t k = 0; k < invalidation_kind_count; ++k) {
      e.counter("ttlcache_invalidations_total",
                "Invalidation requests by kind (cause: key, tag, version, pattern, remote).",
                with("cause", std::string(to_string(static_cast<InvalidationKind>(k)))),
                s.invalidations[k]);
    }
    e.gauge("ttlcache_hit_ratio", "Hits / (hits + misses) since the cache was created.", cache,
            s.hit_rate());
    e.gauge("ttlcache_window_hit_ratio", "Hit ratio over the recent time window.", cache,
            s.window.hit_rate());
    e.gauge("ttlcache_window_seconds", "Length of the time window actually covered.", cache,
            seconds(static_cast<double>(s.window.span.count())));
    e.gauge("ttlcache_recent_hit_ratio", "Hit ratio over the last N reads.", cache,
            s.recent.hit_rate());
    e.histogram("ttlcache_load_duration_seconds", "Time spent in loaders (failed loads included).",
                cache, s.load_latency);
    e.histogram("ttlcache_backend_call_duration_seconds",
                "Time of timed backend calls (remote backends by default).", cache,
                s.backend_latency);
  }
  e.counter("ttlcache_corrupt_values_total", "Undecodable values read as misses.", cache,
            s.corrupt_values);
  e.gauge("ttlcache_loads_in_flight", "Keys whose load is running.", cache,
          static_cast<double>(s.loads_in_flight));
  if (s.removals) {
    for (std::size_t c = 0; c < removal_cause_count; ++c) {
      e.counter("ttlcache_removals_total",
                "Entries removed by the in-process backend, by cause (expired, evicted, erased, "
                "replaced).",
                with("cause", std::string(to_string(static_cast<RemovalCause>(c)))),
                (*s.removals)[c]);
    }
  }
  if (s.entries) {
    e.gauge("ttlcache_entries", "Entries held in process (expired ones not yet reclaimed too).",
            cache, static_cast<double>(*s.entries));
  }
  if (s.weight_bytes) {
    e.gauge("ttlcache_weight_bytes", "Sum of entry weights held in process.", cache,
            static_cast<double>(*s.weight_bytes));
  }
  if (s.remote_used_memory) {
    e.gauge("ttlcache_remote_used_memory_bytes",
            "Memory used by the remote store (Redis used_memory).", cache,
            static_cast<double>(*s.remote_used_memory));
  }

  for (const auto& [name, ct] : s.content_types) {
    const Labels l = with("content_type", name);
    e.counter("ttlcache_content_type_hits_total", "Hits of reads that named a content type.", l,
              ct.hits);
    e.counter("ttlcache_content_type_misses_total", "Misses of reads that named a content type.", l,
              ct.misses);
    e.counter("ttlcache_content_type_loads_total", "Successful loads by content type.", l,
              ct.loads);
    e.counter("ttlcache_content_type_load_failures_total", "Failed loads by content type.", l,
              ct.load_failures);
    e.counter("ttlcache_content_type_stale_served_total", "Stale values served by content type.", l,
              ct.stale_served);
    e.counter("ttlcache_content_type_sets_total", "Writes that named a content type.", l, ct.sets);
    e.histogram("ttlcache_content_type_load_duration_seconds", "Loader time by content type.", l,
                ct.load_latency);
  }
  // Adaptive TTL (issue 18): present only while the cache's policy adapts.
  for (const auto& [name, a] : s.adaptive_ttl) {
    const Labels l = with("content_type", name);
    e.gauge("ttlcache_adaptive_ttl_factor",
            "Adaptive TTL: the learned multiplier of the table's TTL, by content type.", l,
            a.factor);
    e.gauge("ttlcache_adaptive_change_interval_seconds",
            "Adaptive TTL: estimated interval between changes the cache did not see (0: none "
            "learned yet).",
            l, seconds(static_cast<double>(a.change_interval.count()) * 1e6));
    e.counter("ttlcache_adaptive_unseen_changes_total",
              "Adaptive TTL: reloads that found a changed value (these may shorten the TTL).", l,
              a.unseen_changes);
    e.counter("ttlcache_adaptive_told_changes_total",
              "Adaptive TTL: writes and invalidations through the cache (these never shorten).", l,
              a.told_changes);
    if (!a.groups.empty() || a.untracked_group_observations != 0) {
      e.counter("ttlcache_adaptive_untracked_group_observations_total",
                "Adaptive TTL: observations of key groups beyond adaptive.max_groups (they use "
                "the type's factor).",
                l, a.untracked_group_observations);
    }
  }
  // Per key group: at most adaptive.max_groups series of each (the policy's bound on groups).
  for (const auto& [name, a] : s.adaptive_ttl) {
    for (const auto& [group, g] : a.groups) {
      Labels l = with("content_type", name);
      l.emplace_back("group", group);
      e.gauge("ttlcache_adaptive_group_ttl_factor",
              "Adaptive TTL: the learned multiplier of a key group's TTL.", l, g.factor);
      e.gauge("ttlcache_adaptive_group_change_interval_seconds",
              "Adaptive TTL: a key group's estimated interval between unseen changes.", l,
              seconds(static_cast<double>(g.change_interval.count()) * 1e6));
      e.counter("ttlcache_adaptive_group_unseen_changes_total",
                "Adaptive TTL: a key group's reloads that found a changed value.", l,
                g.unseen_changes);
    }
  }
  for (const auto& [name, t] : s.tiers) {
    const Labels l = with("tier", name);
    e.counter("ttlcache_tier_hits_total", "Reads answered by this tier.", l, t.hits);
    e.counter("ttlcache_tier_misses_total", "Reads this tier could not answer.", l, t.misses);
    e.counter("ttlcache_tier_errors_total", "Failed calls to this tier.", l, t.errors);
    e.counter("ttlcache_circuit_breaker_transitions_total", "Circuit breaker state changes.", l,
              t.breaker_transitions);
    if (t.breaker) {
      e.gauge("ttlcache_circuit_breaker_state", "Circuit breaker: 0 closed, 1 open, 2 half-open.",
              l, static_cast<double>(static_cast<int>(*t.breaker)));
    }
  }
}

}  // namespace

namespace detail {
std::string prometheus_escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}
}  // namespace detail

nlohmann::json to_json(const CacheStats& s) {
  nlohmann::json j;
  j["cache"] = s.cache;
  j["backend"] = s.backend;
  j["enabled"] = s.enabled;
  j["hits"] = s.hits;
  j["misses"] = s.misses;
  j["hit_rate"] = s.hit_rate();
  j["loads"] = s.loads;
  j["load_failures"] = s.load_failures;
  j["stale_served"] = s.stale_served;
  j["backend_errors"] = s.backend_errors;
  j["corrupt_values"] = s.corrupt_values;
  j["loads_in_flight"] = s.loads_in_flight;
  if (s.removals) {
    nlohmann::json r;
    for (std::size_t c = 0; c < removal_cause_count; ++c) {
      r[std::string(to_string(static_cast<RemovalCause>(c)))] = (*s.removals)[c];
    }
    j["removals"] = std::move(r);
  } else {
    j["removals"] = nullptr;
  }
  nlohmann::json inv;
  for (std::size_t k = 0; k < invalidation_kind_count; ++k) {
    inv[std::string(to_string(static_cast<InvalidationKind>(k)))] = s.invalidations[k];
  }
  j["invalidations"] = std::move(inv);
  j["window"] = window_json(s.window);
  j["recent"] = window_json(s.recent);
  j["size"] = {{"entries", optional_json(s.entries)},
               {"weight_bytes", optional_json(s.weight_bytes)},
               {"remote_used_memory", optional_json(s.remote_used_memory)}};
  j["load_latency"] = histogram_json(s.load_latency);
  j["backend_latency"] = histogram_json(s.backend_latency);
  nlohmann::json cts = nlohmann::json::object();
  for (const auto& [name, ct] : s.content_types) {
    cts[name] = {{"hits", ct.hits},
                 {"misses", ct.misses},
                 {"hit_rate", ct.hit_rate()},
                 {"loads", ct.loads},
                 {"load_failures", ct.load_failures},
                 {"stale_served", ct.stale_served},
                 {"sets", ct.sets},
                 {"load_latency", histogram_json(ct.load_latency)}};
  }
  j["content_types"] = std::move(cts);
  if (!s.adaptive_ttl.empty()) {  // only while the cache's policy adapts
    nlohmann::json at = nlohmann::json::object();
    for (const auto& [name, a] : s.adaptive_ttl) {
      at[name] = {{"factor", a.factor},
                  {"change_interval_seconds", static_cast<double>(a.change_interval.count()) / 1e3},
                  {"unseen_changes", a.unseen_changes},
                  {"told_changes", a.told_changes},
                  {"reads", a.reads}};
      if (!a.groups.empty() || a.untracked_group_observations != 0) {
        nlohmann::json groups = nlohmann::json::object();
        for (const auto& [group, g] : a.groups) {
          groups[group] = {
              {"factor", g.factor},
              {"change_interval_seconds", static_cast<double>(g.change_interval.count()) / 1e3},
              {"unseen_changes", g.unseen_changes},
              {"told_changes", g.told_changes},
              {"reads", g.reads}};
        }
        at[name]["groups"] = std::move(groups);
        at[name]["untracked_group_observations"] = a.untracked_group_observations;
      }
    }
    j["adaptive_ttl"] = std::move(at);
  }
  nlohmann::json tiers = nlohmann::json::object();
  for (const auto& [name, t] : s.tiers) {
    tiers[name] = {{"hits", t.hits},
                   {"misses", t.misses},
                   {"hit_rate", t.hit_rate()},
                   {"errors", t.errors},
                   {"breaker_transitions", t.breaker_transitions},
                   {"breaker", t.breaker ? nlohmann::json(std::string(to_string(*t.breaker)))
                                         : nlohmann::json(nullptr)}};
  }
  j["tiers"] = std::move(tiers);
  return j;
}

void to_json(nlohmann::json& out, const CacheStats& stats) { out = to_json(stats); }

std::string to_prometheus(const std::vector<CacheStats>& caches) {
  std::set<std::string_view> names;
  Exposition e;
  for (const auto& s : caches) {
    if (!names.insert(s.cache).second) {
      throw argument_error("ttlcache: two caches named '" + s.cache +
                           "' in one Prometheus exposition (their series would collide)");
    }
    add_cache(e, s);
  }
  return e.text();
}

std::string to_prometheus(const CacheStats& stats) {
  return to_prometheus(std::vector<CacheStats>{stats});
}

}  // namespace ttlcache

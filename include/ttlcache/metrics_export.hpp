// Exporting CacheStats: JSON (nlohmann) and the Prometheus text exposition format.
// SPDX-License-Identifier: MIT
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ttlcache/stats.hpp"

namespace ttlcache {

/// The snapshot as JSON: every counter, the window and recent hit rates, sizes (null when the
/// backend cannot tell), both latency histograms with p50/p90/p99 in seconds and cumulative
/// buckets, and per content type and per tier objects. Layout in docs/observability.md.
/// Throws std::bad_alloc only.
nlohmann::json to_json(const CacheStats& stats);

/// nlohmann's hook, so `nlohmann::json j = stats;` works.
void to_json(nlohmann::json& out, const CacheStats& stats);

/// The snapshots of one or more caches in the Prometheus text exposition format (version
/// 0.0.4): metric names `ttlcache_*`, labels `cache`, `content_type`, `tier`, `cause`; one
/// HELP and TYPE line per family before its samples; counters end in `_total`; latencies are
/// histograms in seconds (`_bucket{le=...}` cumulative up to `+Inf`, `_sum`, `_count`).
/// Serve it with Content-Type `text/plain; version=0.0.4`.
/// Throws argument_error when two snapshots have the same cache name (their series would
/// collide).
std::string to_prometheus(const std::vector<CacheStats>& caches);
std::string to_prometheus(const CacheStats& stats);

/// The Content-Type for to_prometheus output.
inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4";

namespace detail {
/// Escapes a label value for the exposition format: backslash, double quote and newline.
std::string prometheus_escape_label(std::string_view value);
}  // namespace detail

}  // namespace ttlcache

// The service's HTTP routes (cpp-httplib) over Views, and its admin endpoints.
// SPDX-License-Identifier: MIT
#pragma once

#include <functional>
#include <memory>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cache_setup.hpp"
#include "dashboard_routes.hpp"  // examples/dashboard: the live page, shared with its example
#include "database.hpp"
#include "views.hpp"

namespace service {

/// Registers the seed's endpoints on server:
///   GET  /api/users/{u}/files?page=N   GET /api/users/{u}/stats   GET /api/users/{u}/bookmarks
///   GET  /api/files/{id}   GET /api/files/{id}/render (ETag; If-None-Match -> 304)
///   GET  /api/stats        GET /api/search?q=words
///   POST /api/users/{u}/files {"name","language","content"} -> 201
///   PUT  /api/files/{id} (body: the new markdown)      DELETE /api/files/{id}
///   GET  /admin/stats (stats() as JSON)   GET /admin/db/files/{id}/version (uncached, uncounted)
/// Malformed input gets a 400 with the reason; a handler's exception a 500 naming it.
void add_routes(httplib::Server& server, Views& views, Database& db,
                std::function<nlohmann::json()> stats);

/// The live dashboard of examples/dashboard over cache's statistics: GET /dashboard (the page),
/// /dashboard/stats (JSON), /dashboard/history (the hit rate over time), /metrics (Prometheus).
/// Returns the sampler behind the chart: keep it until the server has stopped, and destroy it
/// before the cache.
std::unique_ptr<dashboard::History> add_dashboard(httplib::Server& server, ServiceCache& cache);

}  // namespace service

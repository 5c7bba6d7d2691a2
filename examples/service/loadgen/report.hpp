// The KPI table and JSON of a cache-off / cache-on comparison.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "load_run.hpp"

namespace loadgen {

/// The two runs at the same arrival rate, and optionally at saturation (closed loop).
struct Comparison {
  RunFigures off, on;
  std::optional<RunFigures> off_saturated, on_saturated;
  nlohmann::json settings;  ///< what was run: rate, threads, duration, data, TTLs and features
};

/// hit_rate, response_reduction, db_reduction (fractions), the targets, the runs.
nlohmann::json kpi_json(const Comparison& c);
/// The KPI table and which targets are met, for people.
void print_kpis(std::FILE* out, const Comparison& c);

}  // namespace loadgen

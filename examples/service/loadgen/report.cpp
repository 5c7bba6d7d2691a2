// KPIs: the seed's targets (hit rate > 80 %, response time -70 %, database load -60 %).
// SPDX-License-Identifier: MIT
#include "report.hpp"

namespace loadgen {
namespace {

double reduction(double before, double after) { return before > 0 ? 1.0 - after / before : 0.0; }

struct Kpis {
  double hit_rate, response_reduction, p99_reduction, db_reduction, db_time_reduction;
};

Kpis kpis_of(const Comparison& c) {
  const auto per_request = [](const RunFigures& f, double v) {
    return f.requests ? v / static_cast<double>(f.requests) : 0.0;
  };
  return {c.on.hit_rate(), reduction(c.off.mean_ms, c.on.mean_ms),
          reduction(c.off.p99_ms, c.on.p99_ms),
          // Per request: the two runs served about, not exactly, the same number.
          reduction(c.off.db_queries_per_request(), c.on.db_queries_per_request()),
          reduction(per_request(c.off, static_cast<double>(c.off.db_time_us)),
                    per_request(c.on, static_cast<double>(c.on.db_time_us)))};
}

constexpr double target_hit_rate = 0.80;
constexpr double target_response = 0.70;
constexpr double target_db = 0.60;

const char* met(bool ok) { return ok ? "met" : "NOT met"; }

void row(std::FILE* out, const RunFigures& f) {
  std::fprintf(out, "  %-22s %9llu %8.0f %8.2f %8.2f %8.2f %8.1f%% %8.3f %9.0f %6llu/%-6llu\n",
               f.label.c_str(), static_cast<unsigned long long>(f.requests), f.throughput,
               f.mean_ms, f.p50_ms, f.p99_ms, 100.0 * f.hit_rate(), f.db_queries_per_request(),
               static_cast<double>(f.db_time_us) / 1000.0,
               static_cast<unsigned long long>(f.stale_reads),
               static_cast<unsigned long long>(f.sampled));
}

}  // namespace

nlohmann::json kpi_json(const Comparison& c) {
  const Kpis k = kpis_of(c);
  nlohmann::json runs = nlohmann::json::array({c.off.to_json(), c.on.to_json()});
  if (c.off_saturated) runs.push_back(c.off_saturated->to_json());
  if (c.on_saturated) runs.push_back(c.on_saturated->to_json());
  nlohmann::json out{{"hit_rate", k.hit_rate},
                     {"response_reduction", k.response_reduction},
                     {"p99_reduction", k.p99_reduction},
                     {"db_reduction", k.db_reduction},
                     {"db_time_reduction", k.db_time_reduction},
                     {"stale_reads", c.on.stale_reads},
                     {"overlapped_reads", c.on.overlapped},
                     {"lagging_reads", c.on.lagging},
                     {"writes_not_visible", c.on.writes_not_visible},
                     {"redis_used_memory", c.on.redis_used_memory},
                     {"targets",
                      {{"hit_rate", target_hit_rate},
                       {"response_reduction", target_response},
                       {"db_reduction", target_db}}},
                     {"met",
                      {{"hit_rate", k.hit_rate > target_hit_rate},
                       {"response_reduction", k.response_reduction >= target_response},
                       {"db_reduction", k.db_reduction >= target_db}}},
                     {"settings", c.settings},
                     {"runs", std::move(runs)}};
  if (c.off_saturated && c.on_saturated && c.off_saturated->throughput > 0) {
    out["saturation_speedup"] = c.on_saturated->throughput / c.off_saturated->throughput;
  }
  return out;
}

void print_kpis(std::FILE* out, const Comparison& c) {
  const Kpis k = kpis_of(c);
  std::fprintf(out, "\n  %-22s %9s %8s %8s %8s %8s %9s %8s %9s %13s\n", "run", "requests", "req/s",
               "mean ms", "p50 ms", "p99 ms", "hit rate", "db q/req", "db ms", "stale/sampled");
  row(out, c.off);
  row(out, c.on);
  if (c.off_saturated) row(out, *c.off_saturated);
  if (c.on_saturated) row(out, *c.on_saturated);
  std::fprintf(out, "\n  KPI (seed's target)            measured   \n");
  std::fprintf(out, "  hit rate (> 80 %%)              %6.1f %%   %s\n", 100 * k.hit_rate,
               met(k.hit_rate > target_hit_rate));
  std::fprintf(out, "  response time, mean (-70 %%)    %+6.1f %%   %s\n",
               -100 * k.response_reduction, met(k.response_reduction >= target_response));
  std::fprintf(out, "  response time, p99             %+6.1f %%\n", -100 * k.p99_reduction);
  std::fprintf(out, "  database queries (-60 %%)       %+6.1f %%   %s\n", -100 * k.db_reduction,
               met(k.db_reduction >= target_db));
  std::fprintf(out, "  database time                  %+6.1f %%\n", -100 * k.db_time_reduction);
  if (c.off_saturated && c.on_saturated && c.off_saturated->throughput > 0) {
    std::fprintf(out, "  throughput at saturation        x%.2f\n",
                 c.on_saturated->throughput / c.off_saturated->throughput);
  }
  if (c.on.redis_used_memory) {
    std::fprintf(out, "  Redis used_memory (< 500 MB)    %6.1f MB   %s\n",
                 static_cast<double>(c.on.redis_used_memory) / 1e6,
                 met(c.on.redis_used_memory < 500'000'000));
  }
  std::fprintf(out,
               "  stale reads (sampled, cache on) %llu of %llu (overlapping an edit in flight: "
               "%llu, lagging another instance: %llu); writes not visible: %llu\n",
               static_cast<unsigned long long>(c.on.stale_reads),
               static_cast<unsigned long long>(c.on.sampled),
               static_cast<unsigned long long>(c.on.overlapped),
               static_cast<unsigned long long>(c.on.lagging),
               static_cast<unsigned long long>(c.on.writes_not_visible));
}

}  // namespace loadgen

// The dashboard's HTML page: inline CSS and JavaScript, no external assets, polls BASE/stats
// and BASE/history. SPDX-License-Identifier: MIT
#pragma once

#include <stdexcept>
#include <string>

namespace dashboard {
namespace detail {

// Every number on the page has an id (the browser tests read them from the rendered DOM);
// body[data-updates] counts completed refreshes. @BASE@ is where the JSON endpoints live.
inline constexpr const char* page_template = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ttlcache dashboard</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
         background: #f4f6f8; color: #1d2733; }
  header { background: #1d2733; color: #fff; padding: 14px 24px; display: flex;
           align-items: baseline; gap: 16px; }
  header h1 { font-size: 20px; margin: 0; }
  header .status { font-size: 13px; color: #a9b6c4; }
  main { padding: 18px 24px; }
  .cards { display: grid; grid-template-columns: repeat(6, minmax(120px, 1fr)); gap: 12px; }
  .card { background: #fff; border-radius: 8px; padding: 12px 14px;
          box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  .card .label { font-size: 12px; color: #5b6b7c; text-transform: uppercase; letter-spacing: .04em; }
  .card .value { font-size: 24px; font-weight: 600; margin-top: 4px; font-variant-numeric: tabular-nums; }
  .card .sub { font-size: 12px; color: #5b6b7c; margin-top: 2px; }
  .panel { background: #fff; border-radius: 8px; padding: 14px; margin-top: 14px;
           box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  .panel h2 { font-size: 14px; margin: 0 0 8px 0; color: #33414f; }
  .legend span { display: inline-block; margin-right: 16px; font-size: 12px; }
  .legend i { display: inline-block; width: 18px; height: 3px; vertical-align: middle;
              margin-right: 6px; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
  th, td { text-align: right; padding: 5px 8px; border-bottom: 1px solid #e6eaee; }
  th:first-child, td:first-child { text-align: left; }
  .row { display: grid; grid-template-columns: 2fr 1fr; gap: 14px; }
  .good { color: #1a7f37; } .bad { color: #b42318; }
</style>
</head>
<body data-updates="0">
<header>
  <h1>ttlcache dashboard</h1>
  <span class="status">cache <b id="cache-name">-</b> on <b id="backend">-</b> backend</span>
  <span class="status" id="status">waiting for data...</span>
</header>
<main>
  <div class="cards">
    <div class="card"><div class="label">Hits</div><div class="value" id="hits">-</div>
      <div class="sub" id="hit-rate-sub">-</div></div>
    <div class="card"><div class="label">Misses</div><div class="value" id="misses">-</div>
      <div class="sub" id="loads-sub">-</div></div>
    <div class="card"><div class="label">Hit rate (window)</div>
      <div class="value" id="window-hit-rate">-</div><div class="sub" id="window-sub">-</div></div>
    <div class="card"><div class="label">Load latency p50</div><div class="value" id="p50">-</div>
      <div class="sub" id="load-count">-</div></div>
    <div class="card"><div class="label">p90 / p99</div><div class="value" id="p99">-</div>
      <div class="sub" id="p90">-</div></div>
    <div class="card"><div class="label">Memory</div><div class="value" id="memory">-</div>
      <div class="sub" id="entries">-</div></div>
  </div>
  <div class="row">
    <div class="panel">
      <h2>Hit rate over time</h2>
      <div class="legend"><span><i style="background:#2f6fde"></i>window hit rate</span>
        <span><i style="background:#9aa8b6"></i>lifetime hit rate</span></div>
      <canvas id="chart" width="760" height="250"></canvas>
    </div>
    <div class="panel">
      <h2>Removals and invalidations</h2>
      <table>
        <tr><td>evicted</td><td id="evicted">-</td></tr>
        <tr><td>expired</td><td id="expired">-</td></tr>
        <tr><td>replaced</td><td id="replaced">-</td></tr>
        <tr><td>invalidated (key)</td><td id="inv-key">-</td></tr>
        <tr><td>invalidated (tag)</td><td id="inv-tag">-</td></tr>
        <tr><td>invalidated (entity version)</td><td id="inv-version">-</td></tr>
        <tr><td>load failures</td><td id="load-failures">-</td></tr>
        <tr><td>backend errors</td><td id="backend-errors">-</td></tr>
        <tr><td>loads in flight</td><td id="in-flight">-</td></tr>
      </table>
    </div>
  </div>
  <div class="panel">
    <h2>By content type</h2>
    <table id="content-types">
      <thead><tr><th>content type</th><th>hits</th><th>misses</th><th>hit rate</th><th>loads</th>
        <th>load failures</th><th>load p50</th><th>load p99</th></tr></thead>
      <tbody></tbody>
    </table>
  </div>
</main>
<script>
"use strict";
const BASE = "@BASE@";
const fmt = n => Number(n).toLocaleString("en-US");
const pct = r => (100 * r).toFixed(1) + " %";
function dur(seconds) {
  if (!seconds) return "0";
  if (seconds < 1e-3) return (seconds * 1e6).toFixed(0) + " \u00b5s";
  if (seconds < 1) return (seconds * 1e3).toFixed(2) + " ms";
  return seconds.toFixed(2) + " s";
}
function bytes(b) {
  if (b === null || b === undefined) return "n/a";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return b.toFixed(i ? 1 : 0) + " " + units[i];
}
function set(id, text) { document.getElementById(id).textContent = text; }

function drawChart(points) {
  const c = document.getElementById("chart");
  const g = c.getContext("2d");
  const W = c.width, H = c.height, L = 44, R = 10, T = 10, B = 26;
  g.clearRect(0, 0, W, H);
  g.font = "11px system-ui, sans-serif";
  g.strokeStyle = "#e6eaee"; g.fillStyle = "#5b6b7c"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = T + (H - T - B) * (1 - i / 4);
    g.beginPath(); g.moveTo(L, y); g.lineTo(W - R, y); g.stroke();
    g.fillText((i * 25) + " %", 6, y + 4);
  }
  if (points.length < 2) { g.fillText("collecting...", L + 10, T + 20); return; }
  const t0 = points[0].t, t1 = points[points.length - 1].t, span = Math.max(t1 - t0, 1);
  const x = t => L + (W - L - R) * (t - t0) / span;
  const y = r => T + (H - T - B) * (1 - r);
  g.fillText(Math.round(t0) + " s", L, H - 8);
  g.fillText(Math.round(t1) + " s", W - R - 40, H - 8);
  const line = (key, color, width) => {
    g.strokeStyle = color; g.lineWidth = width; g.beginPath();
    points.forEach((p, i) => { const px = x(p.t), py = y(p[key]);
      if (i === 0) g.moveTo(px, py); else g.lineTo(px, py); });
    g.stroke();
  };
  line("hit_rate", "#9aa8b6", 1.5);
  line("window_hit_rate", "#2f6fde", 2.5);
}

async function refresh() {
  try {
    const [s, h] = await Promise.all([
      fetch(BASE + "/stats", {cache: "no-store"}).then(r => r.json()),
      fetch(BASE + "/history", {cache: "no-store"}).then(r => r.json())]);
    set("cache-name", s.cache);
    set("backend", s.backend);
    set("hits", fmt(s.hits));
    set("misses", fmt(s.misses));
    set("hit-rate-sub", "lifetime hit rate " + pct(s.hit_rate));
    set("loads-sub", fmt(s.loads) + " loads");
    set("window-hit-rate", pct(s.window.hit_rate));
    set("window-sub", "last " + s.window.seconds.toFixed(0) + " s; last " +
        fmt(s.recent.hits + s.recent.misses) + " reads " + pct(s.recent.hit_rate));
    set("p50", dur(s.load_latency.p50_seconds));
    set("p90", "p90 " + dur(s.load_latency.p90_seconds));
    set("p99", dur(s.load_latency.p99_seconds));
    set("load-count", fmt(s.load_latency.count) + " loads timed");
    set("memory", bytes(s.size.weight_bytes));
    set("entries", (s.size.entries === null ? "n/a" : fmt(s.size.entries)) + " entries" +
        (s.size.remote_used_memory === null ? "" : "; redis " + bytes(s.size.remote_used_memory)));
    const rm = s.removals || {};
    set("evicted", fmt(rm.evicted || 0));
    set("expired", fmt(rm.expired || 0));
    set("replaced", fmt(rm.replaced || 0));
    set("inv-key", fmt(s.invalidations.key));
    set("inv-tag", fmt(s.invalidations.tag));
    set("inv-version", fmt(s.invalidations.version));
    set("load-failures", fmt(s.load_failures));
    set("backend-errors", fmt(s.backend_errors));
    set("in-flight", fmt(s.loads_in_flight));
    const body = document.querySelector("#content-types tbody");
    body.textContent = "";
    for (const [name, ct] of Object.entries(s.content_types)) {
      const tr = document.createElement("tr");
      for (const v of [name, fmt(ct.hits), fmt(ct.misses), pct(ct.hit_rate), fmt(ct.loads),
                       fmt(ct.load_failures), dur(ct.load_latency.p50_seconds),
                       dur(ct.load_latency.p99_seconds)]) {
        const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    drawChart(h);
    const n = Number(document.body.dataset.updates) + 1;
    document.body.dataset.updates = String(n);
    set("status", "live \u2022 updated " + new Date().toLocaleTimeString("en-GB") +
        " \u2022 refresh every 2 s");
  } catch (e) {
    set("status", "error: " + e);
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)HTML";

}  // namespace detail

/// The page, its JSON endpoints under base ("" for /stats and /history, "/dashboard" for
/// /dashboard/stats ...). Throws std::invalid_argument unless base is "" or "/" followed by
/// [a-z0-9_/-] (it is pasted into a script). Thread-safety: a pure function.
inline std::string page_html(const std::string& base) {
  for (std::size_t i = 0; i < base.size(); ++i) {
    const char c = base[i];
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '/';
    if (!ok || (i == 0 && c != '/')) {
      throw std::invalid_argument("dashboard: base path '" + base + "' must be /[a-z0-9_/-]*");
    }
  }
  std::string page = detail::page_template;
  const std::string marker = "@BASE@";
  page.replace(page.find(marker), marker.size(), base);
  return page;
}

}  // namespace dashboard

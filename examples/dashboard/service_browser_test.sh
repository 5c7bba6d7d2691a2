#!/usr/bin/env bash
# The live dashboard attached to the running web service (examples/service), under a short load
# from its load generator, rendered in headless Chromium.
# SPDX-License-Identifier: MIT
#
# Usage: service_browser_test.sh SERVICE_BINARY LOADGEN_BINARY OUT_DIR
# Starts ttlcache_service (SQLite in a temporary directory, cache on, a free loopback port),
# plays traffic at it with `ttlcache_loadgen --attach`, opens /dashboard twice and checks that
# the page shows this service's cache ("service", its content types) with hit counts that lie
# between the service's own counts read just before and just after each render, and grow.
# Leaves dom-1.html, dom-2.html, metrics-*.txt, stats.json, service.log, loadgen.log and
# dashboard.png in OUT_DIR. A missing chromium is a failure (scripts/test requires it).
set -euo pipefail

service=$1
loadgen=$2
out=$3
mkdir -p "$out"
rm -f "$out"/*.html "$out"/*.txt "$out"/*.png "$out"/*.log "$out"/*.json

source "$(dirname "${BASH_SOURCE[0]}")/browser_lib.sh"
chromium_bin=$(find_chromium)
[[ -n "$chromium_bin" ]] || fail "chromium is not installed (apt-get install chromium)"

profile=$(mktemp -d)
service_pid=""
loadgen_pid=""
# Stops what this script started, by pid: SIGTERM, then SIGKILL after 15 s.
stop_pid() {
  local pid=$1
  [[ -n "$pid" ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$loadgen_pid"
  stop_pid "$service_pid"
  rm -rf "$profile"
}
trap cleanup EXIT

data=(--users 100 --files 1000 --seed 42)
"$service" --cache on --port 0 "${data[@]}" >"$out/service.log" 2>&1 &
service_pid=$!

# Generating the data takes seconds (longer under sanitizers): wait for the line, bounded.
port=""
for _ in $(seq 1200); do
  port=$(sed -n 's|^listening on 127.0.0.1:\([0-9]*\) .*|\1|p' "$out/service.log")
  [[ -n "$port" ]] && break
  kill -0 "$service_pid" 2>/dev/null || fail "the service exited: $(cat "$out/service.log")"
  sleep 0.1
done
[[ -n "$port" ]] || fail "the service did not listen within 120 s: $(cat "$out/service.log")"
url="http://127.0.0.1:$port/dashboard"
echo "service on 127.0.0.1:$port; dashboard at $url"

# Open loop, light (a shared 2-core machine), longer than this test can last: stopped by cleanup.
"$loadgen" --attach "$port" --rate 30 --threads 4 --duration 600 --warmup 0 --quiet \
  "${data[@]}" >"$out/loadgen.log" 2>&1 &
loadgen_pid=$!

# The service's own hit count, from its Prometheus text.
hits_now() {
  http_get "$port" /metrics >"$out/metrics-$1.txt"
  sed -n 's|^ttlcache_hits_total{cache="service"} \([0-9]*\)$|\1|p' "$out/metrics-$1.txt"
}
# wait_hits_above N LABEL: until the service counts more than N hits (bounded: 120 s).
wait_hits_above() {
  local h=""
  for _ in $(seq 600); do
    h=$(hits_now "$2")
    [[ -n "$h" ]] && ((h > $1)) && return 0
    kill -0 "$loadgen_pid" 2>/dev/null || fail "the load generator exited: $(cat "$out/loadgen.log")"
    sleep 0.2
  done
  fail "the service counted no more than $1 hits in 120 s (last: '${h}')"
}

wait_hits_above 0 first
grep -q '^# TYPE ttlcache_hits_total counter$' "$out/metrics-first.txt" ||
  fail "/metrics has no hits family"
grep -q '^ttlcache_load_duration_seconds_bucket{cache="service",le="+Inf"} ' \
  "$out/metrics-first.txt" || fail "/metrics has no load histogram"
http_get "$port" /dashboard/stats >"$out/stats.json"
grep -q '"cache":"service"' "$out/stats.json" || fail "/dashboard/stats is not the service's cache"
grep -q '"markdown_render":{' "$out/stats.json" || fail "/dashboard/stats has no markdown_render"

# render N: dumps the page; checks it is this service's, with a hit count between the service's
# counts before and after; prints that count.
render() {
  local n=$1 before after shown
  before=$(hits_now "before-$n")
  chrome --virtual-time-budget=5000 --dump-dom "$url" >"$out/dom-$n.html" ||
    fail "chromium could not render $url (see $out/chromium.log)"
  after=$(hits_now "after-$n")
  shown=$(check_dom "$out/dom-$n.html" markdown_render | tail -1)
  [[ "$(value_of cache-name "$out/dom-$n.html")" == "service" ]] ||
    fail "dom-$n: the page shows cache '$(value_of cache-name "$out/dom-$n.html")', not 'service'"
  grep -q '<td>file_content</td>' "$out/dom-$n.html" || fail "dom-$n: no file_content row"
  ((before <= shown && shown <= after)) ||
    fail "dom-$n: the page shows $shown hits; the service counted $before before, $after after"
  echo "$shown"
}

first=$(render 1)
wait_hits_above "$first" second  # an event (the service served more hits), not a sleep
second=$(render 2)
echo "hits on the page: $first, then $second"
((second > first)) || fail "the numbers on the page do not move ($first then $second)"

chrome --virtual-time-budget=5000 --window-size=1280,860 --hide-scrollbars \
  --screenshot="$out/dashboard.png" "$url" >/dev/null || fail "chromium could not take a screenshot"
check_screenshot "$out/dashboard.png"

kill -0 "$service_pid" 2>/dev/null || fail "the service died during the test: $(cat "$out/service.log")"
echo "PASS: the service's dashboard renders its live numbers; screenshot in $out/dashboard.png"

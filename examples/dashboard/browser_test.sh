#!/usr/bin/env bash
# Starts the dashboard on a free loopback port and checks it with headless Chromium.
# SPDX-License-Identifier: MIT
#
# Usage: browser_test.sh DASHBOARD_BINARY OUT_DIR
# Leaves dom-1.html, dom-2.html, metrics.txt, stats.json and dashboard.png in OUT_DIR.
# Exit 77 (skip) when chromium is missing, unless CI=true: then that is a failure.
set -euo pipefail

binary=$1
out=$2
mkdir -p "$out"

source "$(dirname "${BASH_SOURCE[0]}")/browser_lib.sh"
chromium_bin=$(find_chromium)
if [[ -z "$chromium_bin" ]]; then
  if [[ "${CI:-}" == "true" ]]; then
    echo "FAIL: chromium is not installed (apt-get install chromium); CI must run this test" >&2
    exit 1
  fi
  echo "SKIP: chromium is not installed (apt-get install chromium)" >&2
  exit 77
fi

profile=$(mktemp -d)
"$binary" 0 --run-for 170 >"$out/dashboard.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$profile"
}
trap cleanup EXIT

port=""
for _ in $(seq 100); do
  port=$(sed -n 's|^dashboard listening on http://127.0.0.1:\([0-9]*\)/$|\1|p' "$out/dashboard.log")
  [[ -n "$port" ]] && break
  kill -0 "$pid" 2>/dev/null || fail "dashboard exited: $(cat "$out/dashboard.log")"
  sleep 0.1
done
[[ -n "$port" ]] || fail "dashboard did not print its port"
url="http://127.0.0.1:$port"
echo "dashboard on $url"

sleep 3  # let the workload and the history sampler produce a few seconds of data
http_get "$port" /metrics >"$out/metrics.txt"
grep -q '^# TYPE ttlcache_hits_total counter$' "$out/metrics.txt" || fail "/metrics has no hits family"
grep -Eq '^ttlcache_hits_total\{cache="dashboard"\} [1-9][0-9]*$' "$out/metrics.txt" ||
  fail "/metrics shows no hits"
grep -q '^ttlcache_load_duration_seconds_bucket{cache="dashboard",le="+Inf"} ' "$out/metrics.txt" ||
  fail "/metrics has no load histogram"
http_get "$port" /stats >"$out/stats.json"
grep -Eq '"hits":[1-9][0-9]*' "$out/stats.json" || fail "/stats shows no hits"

first=$(chrome --virtual-time-budget=5000 --dump-dom "$url/" >"$out/dom-1.html" &&
  check_dom "$out/dom-1.html" file_list | tail -1)
sleep 2
second=$(chrome --virtual-time-budget=5000 --dump-dom "$url/" >"$out/dom-2.html" &&
  check_dom "$out/dom-2.html" file_list | tail -1)
echo "hits on the page: $first, then $second"
((second > first)) || fail "the numbers on the page do not move ($first then $second)"

sleep 4  # a longer history makes a more telling chart
chrome --virtual-time-budget=5000 --window-size=1280,860 --hide-scrollbars \
  --screenshot="$out/dashboard.png" "$url/" >/dev/null
check_screenshot "$out/dashboard.png"
echo "PASS: dashboard renders live numbers; screenshot in $out/dashboard.png"

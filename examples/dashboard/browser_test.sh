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

chromium_bin=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [[ -z "$chromium_bin" ]]; then
  if [[ "${CI:-}" == "true" ]]; then
    echo "FAIL: chromium is not installed (apt-get install chromium); CI must run this test" >&2
    exit 1
  fi
  echo "SKIP: chromium is not installed (apt-get install chromium)" >&2
  exit 77
fi

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

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

# Plain HTTP/1.0 GET through bash's /dev/tcp: no curl needed.
http_get() {
  local path=$1
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
  # Body only: everything after the first empty line.
  sed '1,/^\r$/d' <&3
  exec 3<&-
}

sleep 3  # let the workload and the history sampler produce a few seconds of data
http_get /metrics >"$out/metrics.txt"
grep -q '^# TYPE ttlcache_hits_total counter$' "$out/metrics.txt" || fail "/metrics has no hits family"
grep -Eq '^ttlcache_hits_total\{cache="dashboard"\} [1-9][0-9]*$' "$out/metrics.txt" ||
  fail "/metrics shows no hits"
grep -q '^ttlcache_load_duration_seconds_bucket{cache="dashboard",le="+Inf"} ' "$out/metrics.txt" ||
  fail "/metrics has no load histogram"
http_get /stats >"$out/stats.json"
grep -Eq '"hits":[1-9][0-9]*' "$out/stats.json" || fail "/stats shows no hits"

chrome() {
  "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --user-data-dir="$profile" "$@" 2>>"$out/chromium.log"
}

# The value of the element with this id in a dumped DOM.
value_of() { sed -n "s|.*id=\"$1\"[^>]*>\([^<]*\)<.*|\1|p" "$2" | head -1; }
digits() { tr -cd '0-9'; }

check_dom() {
  local dom=$1
  grep -Eq '<body data-updates="[1-9][0-9]*"' "$dom" || fail "$dom: the page never refreshed"
  grep -q 'id="status">live' "$dom" || fail "$dom: status is not live"
  local hits misses p50 p99 memory window
  hits=$(value_of hits "$dom")
  misses=$(value_of misses "$dom")
  p50=$(value_of p50 "$dom")
  p99=$(value_of p99 "$dom")
  memory=$(value_of memory "$dom")
  window=$(value_of window-hit-rate "$dom")
  echo "$dom: hits=$hits misses=$misses p50=$p50 p99=$p99 memory=$memory window=$window" >&2
  [[ "$(echo "$hits" | digits)" =~ ^[1-9][0-9]*$ ]] || fail "$dom: hits '$hits' is not a live number"
  [[ "$(echo "$misses" | digits)" =~ ^[1-9][0-9]*$ ]] || fail "$dom: misses '$misses'"
  [[ "$p50" =~ ^[0-9.]+\ (µs|ms|s)$ ]] || fail "$dom: p50 '$p50'"
  [[ "$p99" =~ ^[0-9.]+\ (µs|ms|s)$ ]] || fail "$dom: p99 '$p99'"
  [[ "$memory" =~ ^[0-9.]+\ (B|KiB|MiB|GiB)$ ]] || fail "$dom: memory '$memory'"
  [[ "$window" =~ ^[0-9.]+\ %$ ]] || fail "$dom: window hit rate '$window'"
  grep -q '<td>file_list</td>' "$dom" || fail "$dom: no content type rows"
  echo "$hits" | digits
}

first=$(chrome --virtual-time-budget=5000 --dump-dom "$url/" >"$out/dom-1.html" &&
  check_dom "$out/dom-1.html" | tail -1)
sleep 2
second=$(chrome --virtual-time-budget=5000 --dump-dom "$url/" >"$out/dom-2.html" &&
  check_dom "$out/dom-2.html" | tail -1)
echo "hits on the page: $first, then $second"
((second > first)) || fail "the numbers on the page do not move ($first then $second)"

sleep 4  # a longer history makes a more telling chart
chrome --virtual-time-budget=5000 --window-size=1280,860 --hide-scrollbars \
  --screenshot="$out/dashboard.png" "$url/" >/dev/null
[[ -s "$out/dashboard.png" ]] || fail "no screenshot"
[[ "$(head -c 8 "$out/dashboard.png" | od -An -tx1 | tr -d ' \n')" == "89504e470d0a1a0a" ]] ||
  fail "the screenshot is not a PNG"
echo "PASS: dashboard renders live numbers; screenshot in $out/dashboard.png"

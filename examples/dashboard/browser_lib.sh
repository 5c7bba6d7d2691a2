# Shared by the dashboard's browser tests (sourced): headless Chromium, the DOM's values, GET.
# SPDX-License-Identifier: MIT
#
# Needs $out (the output directory) and $profile (a Chromium profile directory) set by the caller.

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# The Chromium binary ($CHROMIUM, else chromium or chromium-browser on PATH), or empty.
find_chromium() {
  echo "${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
}

# chrome ARGS...: headless Chromium, bounded to 90 s even on a loaded machine.
chrome() {
  timeout 90 "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --user-data-dir="$profile" "$@" 2>>"$out/chromium.log"
}

# http_get PORT PATH: the body of a plain HTTP/1.0 GET through bash's /dev/tcp (no curl needed).
http_get() {
  local port=$1 path=$2
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
  # Body only: everything after the first empty line.
  sed '1,/^\r$/d' <&3
  exec 3<&-
}

# value_of ID FILE: the text of the element with this id in a dumped DOM.
value_of() { sed -n "s|.*id=\"$1\"[^>]*>\([^<]*\)<.*|\1|p" "$2" | head -1; }
digits() { tr -cd '0-9'; }

# check_dom FILE CONTENT_TYPE: the page refreshed and shows live numbers and a row for
# CONTENT_TYPE; prints the hit count last.
check_dom() {
  local dom=$1 content_type=$2
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
  grep -q "<td>$content_type</td>" "$dom" || fail "$dom: no '$content_type' row"
  echo "$hits" | digits
}

# check_screenshot FILE: a non-empty PNG.
check_screenshot() {
  [[ -s "$1" ]] || fail "no screenshot"
  [[ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" == "89504e470d0a1a0a" ]] ||
    fail "the screenshot is not a PNG"
}

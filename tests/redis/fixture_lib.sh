# Shared by the multi-server fixtures (cluster_fixture.sh, sentinel_fixture.sh): tool checks,
# process and port helpers, the info file and the start|stop dispatch.
# SPDX-License-Identifier: MIT
#
# The sourcing script sets, before sourcing:
#   fixture      its name for messages ("cluster_fixture")
#   what         what its tests are, for the missing-tool message ("the Redis Cluster tests")
#   info_name    the info file written into <dir> ("cluster.info")
#   work_prefix  the temporary directory's prefix ("ttlcache-cluster")
# and, after sourcing, defines start() and calls fixture_main "$@".

die() { echo "$fixture: $*" >&2; exit 1; }

require_tools() {
  local tool
  for tool in redis-server redis-cli; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      [[ "${CI:-}" != "true" ]] || die "$tool not found, and CI=true: $what must run in CI."
      die "$tool not found: $what need a real server (apt-get install redis-server)"
    fi
  done
  # The tests expect Redis 7 behaviour (ACL error texts, CLIENT PAUSE ... ALL): say so plainly.
  local version major
  version=$(redis-server --version 2>/dev/null | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p' | head -n1)
  major=${version%%.*}
  [[ "$major" =~ ^[0-9]+$ ]] || die "cannot read the version from 'redis-server --version': $(redis-server --version 2>&1 | head -n1)"
  ((major >= 7)) || die "redis-server $version is too old: $what need Redis 7 or later"
}

# shellcheck source=fixture_process.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fixture_process.sh"

# SIGTERM to every pid that is still a redis process, SIGKILL to those alive 5 s later.
kill_pids() {
  local pid deadline
  for pid in "$@"; do
    if alive "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis-* ]]; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  deadline=$((SECONDS + 5))
  for pid in "$@"; do
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.02; done
    if alive "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis-* ]]; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# The EXIT trap of start(): a start that did not finish leaves nothing behind.
cleanup_unless_ready() {
  if ((ready == 0)); then
    ((${#pids[@]} == 0)) || kill_pids "${pids[@]}"
    rm -rf -- "$work_dir"
  fi
}

# Prepares a start: tools, <dir>, a stale set-up from an earlier run stopped, a fresh work dir.
begin_start() {
  require_tools
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [[ ! -f "$dir/$info_name" ]] || stop_quietly
  work_dir=$(mktemp -d "${TMPDIR:-/tmp}/$work_prefix.XXXXXX")
  ready=0
  pids=()
  trap cleanup_unless_ready EXIT
}

# Writes the info file atomically from stdin (key=value lines) and marks the start finished.
finish_start() {
  cat >"$dir/$info_name.tmp"
  mv "$dir/$info_name.tmp" "$dir/$info_name"
  ready=1
}

info_field() { grep -s "^$1=" "$dir/$info_name" | head -n1 | cut -d= -f2- || true; }

stop_quietly() {
  [[ -f "$dir/$info_name" ]] || return 0
  local recorded work
  read -r -a recorded <<<"$(info_field pids)"
  work=$(info_field work_dir)
  ((${#recorded[@]} == 0)) || kill_pids "${recorded[@]}"
  # Only ever a directory a fixture made.
  if [[ "$work" == */"$work_prefix".* && -d "$work" ]]; then rm -rf -- "$work"; fi
  rm -f "$dir/$info_name"
}

fixture_main() {
  case "$action" in
    start) start "$@" ;;
    stop)
      [[ -d "$dir" ]] || exit 0
      dir=$(cd "$dir" && pwd)
      stop_quietly
      echo "$fixture: stopped what ran in $dir"
      ;;
    *) die "unknown action '$action' (start|stop)" ;;
  esac
}

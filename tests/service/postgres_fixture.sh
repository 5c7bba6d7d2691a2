#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL server on a free loopback port, for the service's tests
# and for scripts/demo --db postgres.
# SPDX-License-Identifier: MIT
#
# usage: postgres_fixture.sh start <dir>
#        postgres_fixture.sh stop  <dir>
#
# start: initdb into a fresh temporary directory (trust authentication, loopback and the
#   directory's Unix socket only), runs postgres on 127.0.0.1 on a free port, waits (bounded)
#   until pg_isready answers and the server's own postmaster.pid says "ready", and writes
#   <dir>/postgres.info (key=value lines: host, port, pid, user, url, work_dir, script) plus
#   <dir>/postgres.log. initdb and postgres refuse to run as root: as root they run as the
#   "postgres" user (the Debian package creates it), or "nobody" when there is none.
# stop: SIGINT (fast shutdown), then SIGQUIT if the server is still up after 10 s; removes the
#   temporary directory.
#
# Missing PostgreSQL binaries are an error, never a skip (in CI and elsewhere).
set -euo pipefail

die() { echo "postgres_fixture: $*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: $0 start|stop <dir>"
action=$1
dir=$2

find_bindir() {
  local b
  if command -v pg_config >/dev/null 2>&1; then
    b=$(pg_config --bindir 2>/dev/null || true)
    if [[ -x "$b/postgres" && -x "$b/initdb" ]]; then
      echo "$b"
      return
    fi
  fi
  for b in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$b/postgres" && -x "$b/initdb" ]]; then
      echo "$b"
      return
    fi
  done
  local hint="apt-get install postgresql"
  [[ "${CI:-}" != "true" ]] || die "PostgreSQL not found, and CI=true: the PostgreSQL service tests must run in CI ($hint)"
  die "PostgreSQL (initdb, postgres) not found: the PostgreSQL service tests need a real server ($hint)"
}

# shellcheck source=fixture_process.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fixture_process.sh"

# as_owner CMD...: runs CMD as the unprivileged owner of the data directory when we are root.
as_owner() {
  if [[ -n "$run_as" ]]; then
    runuser -u "$run_as" -- "$@"
  else
    "$@"
  fi
}

# The postmaster's pid once its postmaster.pid says it is ready (line 8), else nothing.
ready_pid() {
  local pidfile="$work_dir/data/postmaster.pid"
  [[ -r "$pidfile" ]] || return 0
  if [[ "$(sed -n 8p "$pidfile" 2>/dev/null | tr -d ' ')" == ready ]]; then
    sed -n 1p "$pidfile"
  fi
}

cleanup_unless_ready() {
  if ((ready == 0)); then
    [[ -z "$pid" ]] || stop_pid "$pid"
    rm -rf -- "$work_dir"
  fi
}

# SIGINT (fast shutdown), SIGQUIT (immediate) after 10 s; only ever a postgres process.
stop_pid() {
  local p=$1
  alive "$p" && [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == postgres* ]] || return 0
  kill -INT "$p" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  while alive "$p" && ((SECONDS < deadline)); do sleep 0.05; done
  if alive "$p"; then
    kill -QUIT "$p" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    while alive "$p" && ((SECONDS < deadline)); do sleep 0.05; done
  fi
}

# Starts postgres on $port; returns 0 once it is ready, 1 if it exited (port taken); dies
# after a timeout.
try_start() {
  local log="$dir/postgres.log"
  : >"$log"
  local cmd=("$bindir/postgres" -D "$work_dir/data" -k "$work_dir" -p "$port" -h 127.0.0.1
    -c synchronous_commit=off -c fsync=off -c full_page_writes=off -c max_connections=200)
  [[ -z "$run_as" ]] || cmd=(runuser -u "$run_as" -- "${cmd[@]}")
  # setsid: not in ctest's process group; stdio to files so that ctest does not wait for pipes.
  setsid "${cmd[@]}" </dev/null >>"$log" 2>&1 &
  local launcher=$!
  local deadline=$((SECONDS + 30))
  pid=
  while ((SECONDS < deadline)); do
    local p
    p=$(ready_pid)
    if [[ -n "$p" ]] && "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2; then
      pid=$p
      return 0
    fi
    if ! alive "$launcher"; then
      wait "$launcher" 2>/dev/null || true
      grep -q 'could not bind\|Address already in use' "$log" && return 1
      die "postgres exited at start; log: $log"
    fi
    sleep 0.05
  done
  p=$(sed -n 1p "$work_dir/data/postmaster.pid" 2>/dev/null || true)
  [[ -z "$p" ]] || stop_pid "$p"
  die "postgres on port $port was not ready within 30 s; log: $log"
}

start() {
  bindir=$(find_bindir)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [[ ! -f "$dir/postgres.info" ]] || stop_quietly
  work_dir=$(mktemp -d "${TMPDIR:-/tmp}/ttlcache-postgres.XXXXXX")
  ready=0
  pid=
  trap cleanup_unless_ready EXIT
  run_as=
  if [[ "$(id -u)" -eq 0 ]]; then
    if id postgres >/dev/null 2>&1; then run_as=postgres; else run_as=nobody; fi
    command -v runuser >/dev/null 2>&1 || die "running as root needs runuser (util-linux) to start PostgreSQL as $run_as"
    chown "$run_as" "$work_dir"
    as_owner test -w "$work_dir" ||
      die "user $run_as cannot write $work_dir (is TMPDIR=${TMPDIR:-/tmp} readable by others?)"
  fi
  as_owner "$bindir/initdb" -D "$work_dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$dir/initdb.log" 2>&1 || die "initdb failed; log: $dir/initdb.log"
  # Loopback and the private socket only (the server listens on 127.0.0.1 alone anyway).
  cat >"$work_dir/data/pg_hba.conf" <<'HBA'
local all all trust
host all all 127.0.0.1/32 trust
HBA
  [[ -z "$run_as" ]] || chown "$run_as" "$work_dir/data/pg_hba.conf"

  local started=0
  for _ in $(seq 1 40); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if port_busy "$port"; then continue; fi
    if try_start; then
      started=1
      break
    fi
  done
  ((started)) || die "no free port found after 40 attempts; log: $dir/postgres.log"

  local script
  script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
  cat >"$dir/postgres.info.tmp" <<INFO
host=127.0.0.1
port=$port
pid=$pid
user=postgres
url=postgresql://postgres@127.0.0.1:$port/postgres
work_dir=$work_dir
script=$script
INFO
  mv "$dir/postgres.info.tmp" "$dir/postgres.info"
  ready=1
  echo "postgres_fixture: $("$bindir/postgres" --version) pid $pid on 127.0.0.1:$port (work dir $work_dir, info $dir/postgres.info)"
}

info_field() { grep -s "^$1=" "$dir/postgres.info" | head -n1 | cut -d= -f2- || true; }

stop_quietly() {
  [[ -f "$dir/postgres.info" ]] || return 0
  local p work
  p=$(info_field pid)
  work=$(info_field work_dir)
  [[ -z "$p" ]] || stop_pid "$p"
  # Only ever a directory this script made.
  if [[ "$work" == */ttlcache-postgres.* && -d "$work" ]]; then rm -rf -- "$work"; fi
  rm -f "$dir/postgres.info"
}

case "$action" in
  start) start ;;
  stop)
    [[ -d "$dir" ]] || exit 0
    dir=$(cd "$dir" && pwd)
    stop_quietly
    echo "postgres_fixture: stopped the server in $dir"
    ;;
  *) die "unknown action '$action' (start|stop)" ;;
esac

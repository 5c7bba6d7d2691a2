#!/usr/bin/env bash
# Starts or stops a throwaway redis-server on a free loopback port, for the Redis tests.
# SPDX-License-Identifier: MIT
#
# usage: redis_fixture.sh start <dir> [port] [extra redis-server arguments...]
#        redis_fixture.sh stop  <dir>
#
# start: runs redis-server on 127.0.0.1 without persistence, its working directory and Unix
#   socket in a fresh temporary directory, creates the ACL user "ttlcache_acl" with a random
#   password, waits until PING answers, and writes <dir>/redis.info (key=value lines: host,
#   port, pid, unix_socket, acl_user, acl_password, script, work_dir) plus <dir>/redis.log.
#   Without [port] a free one is found by letting redis-server bind candidates: a failed bind
#   simply moves on to the next one.
# stop: SIGTERM, then SIGKILL if the server does not go away within 5 s; removes the
#   temporary directory.
#
# A missing redis-server is an error, never a skip (in CI and elsewhere).
set -euo pipefail

die() { echo "redis_fixture: $*" >&2; exit 1; }

[[ $# -ge 2 ]] || die "usage: $0 start|stop <dir> [port] [redis-server args...]"
action=$1
dir=$2
shift 2

require_tools() {
  local tool
  for tool in redis-server redis-cli; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      if [[ "${CI:-}" == "true" ]]; then
        die "$tool not found, and CI=true: the Redis tests must run in CI. Install the redis-server package."
      fi
      die "$tool not found: the Redis tests need a real server. Install it: apt-get install redis-server"
    fi
  done
  # The tests expect Redis 7 behaviour (ACL error texts, CLIENT PAUSE ... ALL): say so plainly.
  local version major
  version=$(redis-server --version 2>/dev/null | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p' | head -n1)
  major=${version%%.*}
  [[ "$major" =~ ^[0-9]+$ ]] || die "cannot read the version from 'redis-server --version': $(redis-server --version 2>&1 | head -n1)"
  ((major >= 7)) || die "redis-server $version is too old: the Redis tests need Redis 7 or later"
}

# shellcheck source=fixture_process.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fixture_process.sh"

cli() { redis-cli -h 127.0.0.1 -p "$port" --no-auth-warning "$@"; }

# Starts redis-server on $port; returns 0 once PING answers from *our* process, 1 if the
# process died (port taken), dies after a timeout.
try_start() {
  local log="$dir/redis.log"
  : >"$log"
  # setsid: the server must not belong to the ctest process group; stdio to files so that
  # ctest does not wait for our pipes to close.
  setsid redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$work_dir" --unixsocket "$work_dir/redis.sock" --unixsocketperm 700 \
    --daemonize no --loglevel notice --logfile "$log" \
    "${extra_args[@]}" </dev/null >"$dir/redis.stdout" 2>&1 &
  pid=$!
  local deadline=$((SECONDS + 10))
  while ((SECONDS < deadline)); do
    if ! alive "$pid"; then
      wait "$pid" 2>/dev/null || true
      return 1
    fi
    # The answer must come from our process, not from someone else's server on this port.
    local info
    info=$(cli "${auth_args[@]}" info server 2>/dev/null | tr -d '\r' || true)
    if grep -qx "process_id:$pid" <<<"$info"; then
      return 0
    fi
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  die "redis-server on port $port did not answer PING within 10 s; log: $log"
}

cleanup_unless_ready() {
  if ((ready == 0)); then
    if [[ -n "$pid" ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -rf -- "$work_dir"
  fi
}

start() {
  require_tools
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [[ ! -f "$dir/redis.info" ]] || stop_quietly
  work_dir=$(mktemp -d "${TMPDIR:-/tmp}/ttlcache-redis.XXXXXX")
  started=0
  ready=0
  pid=
  # Whatever fails before redis.info is written leaves no server and no directory behind.
  trap cleanup_unless_ready EXIT
  local fixed_port=${1:-}
  [[ $# -eq 0 ]] || shift
  extra_args=("$@")
  # A --requirepass among the extra arguments is needed for our own redis-cli calls too.
  auth_args=()
  local i
  for ((i = 0; i < ${#extra_args[@]}; i++)); do
    if [[ "${extra_args[$i]}" == "--requirepass" ]]; then
      auth_args=(-a "${extra_args[$((i + 1))]}")
    fi
  done

  for _ in $(seq 1 40); do
    if [[ -n "$fixed_port" ]]; then
      port=$fixed_port
    else
      port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
      if port_busy "$port"; then continue; fi
    fi
    if try_start; then
      started=1
      break
    fi
    [[ -z "$fixed_port" ]] || die "could not start redis-server on port $fixed_port; log: $dir/redis.log"
  done
  ((started)) || die "no free port found after 40 attempts; log: $dir/redis.log"

  local acl_password
  acl_password="acl-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  cli "${auth_args[@]}" ACL SETUSER ttlcache_acl reset on ">$acl_password" '~*' '&*' '+@all' \
    >/dev/null || die "ACL SETUSER failed"

  local script
  script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
  cat >"$dir/redis.info.tmp" <<INFO
host=127.0.0.1
port=$port
pid=$pid
unix_socket=$work_dir/redis.sock
acl_user=ttlcache_acl
acl_password=$acl_password
script=$script
work_dir=$work_dir
INFO
  mv "$dir/redis.info.tmp" "$dir/redis.info"
  ready=1
  echo "redis_fixture: redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') pid $pid on 127.0.0.1:$port (work dir $work_dir, info $dir/redis.info)"
}

# Running, and not a zombie waiting for its reaper (in containers PID 1 may reap lazily).
info_field() { grep -s "^$1=" "$dir/redis.info" | head -n1 | cut -d= -f2- || true; }

# Stops the server recorded in $dir; quiet when there is none.
stop_quietly() {
  [[ -f "$dir/redis.info" ]] || return 0
  local pid work
  pid=$(info_field pid)
  port=$(info_field port)
  work=$(info_field work_dir)
  # Signal only our redis-server: after a reboot the recorded pid may belong to anything.
  if [[ -n "$pid" ]] && alive "$pid" &&
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis-server* ]]; then
    # SIGTERM is a clean shutdown (nothing to save) and needs no password, unlike SHUTDOWN.
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 5))
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.02; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # Only ever a directory this script made.
  if [[ "$work" == */ttlcache-redis.* && -d "$work" ]]; then rm -rf -- "$work"; fi
  rm -f "$dir/redis.info"
}

case "$action" in
  start) start "$@" ;;
  stop)
    [[ -d "$dir" ]] || exit 0
    dir=$(cd "$dir" && pwd)
    stop_quietly
    echo "redis_fixture: stopped the server in $dir"
    ;;
  *) die "unknown action '$action' (start|stop)" ;;
esac

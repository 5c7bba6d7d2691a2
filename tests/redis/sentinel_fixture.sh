#!/usr/bin/env bash
# Starts or stops a throwaway Sentinel setup (1 master, 1 replica, 3 Sentinels) on loopback.
# SPDX-License-Identifier: MIT
#
# usage: sentinel_fixture.sh start <dir>      sentinel_fixture.sh stop <dir>
#
# start: master and replica without persistence, three Sentinels monitoring "mymaster" with
#   quorum 2, down-after-milliseconds 500 and failover-timeout 2000 (so a failover takes
#   seconds, not minutes), all in a fresh temporary directory on random free ports; waits until
#   the replica's link is up and every Sentinel sees the replica and the two other Sentinels,
#   then writes <dir>/sentinel.info (key=value: master_port, master_pid, replica_port,
#   replica_pid, sentinel_ports, pids, work_dir).
# stop: SIGTERM, then SIGKILL after 5 s, for every recorded pid; removes the directory.
#
# A missing redis-server or redis-cli is an error, never a skip (in CI and elsewhere).
set -euo pipefail

die() { echo "sentinel_fixture: $*" >&2; exit 1; }
[[ $# -ge 2 ]] || die "usage: $0 start|stop <dir>"
action=$1
dir=$2
shift 2

require_tools() {
  local tool
  for tool in redis-server redis-cli; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      [[ "${CI:-}" != "true" ]] || die "$tool not found, and CI=true: the Sentinel tests must run in CI."
      die "$tool not found: the Sentinel tests need a real server (apt-get install redis-server)"
    fi
  done
}

alive() { [[ -r "/proc/$1/status" ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

port_busy() {
  if command -v ss >/dev/null 2>&1; then
    [[ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

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

cleanup_unless_ready() {
  if ((ready == 0)); then
    ((${#pids[@]} == 0)) || kill_pids "${pids[@]}"
    rm -rf -- "$work_dir"
  fi
}

# Waits until redis-cli on port reports our pid; 1 if the process died (port taken).
wait_answer() {
  local port=$1 pid=$2 deadline=$((SECONDS + 15))
  while ((SECONDS < deadline)); do
    alive "$pid" || return 1
    if redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' | grep -qx "process_id:$pid"; then
      return 0
    fi
    sleep 0.05
  done
  die "the process on port $port did not answer within 15 s"
}

# Five consecutive free ports from a random base: master, replica, three Sentinels.
try_start() {
  local base=$1 i
  for ((i = 0; i < 5; i++)); do
    if port_busy $((base + i)); then return 1; fi
  done
  master_port=$base
  replica_port=$((base + 1))
  sentinel_ports=($((base + 2)) $((base + 3)) $((base + 4)))
  pids=()
  local common=(--bind 127.0.0.1 --save '' --appendonly no --daemonize no --loglevel notice)
  mkdir -p "$work_dir/master" "$work_dir/replica"
  setsid redis-server --port "$master_port" "${common[@]}" --dir "$work_dir/master" \
    --logfile "$work_dir/master/redis.log" </dev/null >/dev/null 2>&1 &
  master_pid=$!
  pids+=("$master_pid")
  wait_answer "$master_port" "$master_pid" || return 1
  setsid redis-server --port "$replica_port" "${common[@]}" --dir "$work_dir/replica" \
    --logfile "$work_dir/replica/redis.log" --replicaof 127.0.0.1 "$master_port" \
    </dev/null >/dev/null 2>&1 &
  replica_pid=$!
  pids+=("$replica_pid")
  wait_answer "$replica_port" "$replica_pid" || return 1
  local port
  for port in "${sentinel_ports[@]}"; do
    mkdir -p "$work_dir/s$port"
    cat >"$work_dir/s$port/sentinel.conf" <<CONF
port $port
bind 127.0.0.1
daemonize no
dir $work_dir/s$port
logfile $work_dir/s$port/sentinel.log
sentinel monitor mymaster 127.0.0.1 $master_port 2
sentinel down-after-milliseconds mymaster 500
sentinel failover-timeout mymaster 2000
sentinel parallel-syncs mymaster 1
CONF
    setsid redis-server "$work_dir/s$port/sentinel.conf" --sentinel </dev/null >/dev/null 2>&1 &
    pids+=("$!")
    wait_answer "$port" "$!" || return 1
  done
  return 0
}

setup_ready() {
  local info port
  info=$(redis-cli -p "$replica_port" info replication 2>/dev/null | tr -d '\r') || return 1
  grep -qx 'master_link_status:up' <<<"$info" || return 1
  for port in "${sentinel_ports[@]}"; do
    info=$(redis-cli -p "$port" sentinel master mymaster 2>/dev/null | tr -d '\r') || return 1
    grep -A1 -x 'num-slaves' <<<"$info" | tail -n1 | grep -qx 1 || return 1
    grep -A1 -x 'num-other-sentinels' <<<"$info" | tail -n1 | grep -qx 2 || return 1
  done
}

start() {
  require_tools
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [[ ! -f "$dir/sentinel.info" ]] || stop_quietly
  work_dir=$(mktemp -d "${TMPDIR:-/tmp}/ttlcache-sentinel.XXXXXX")
  ready=0
  pids=()
  trap cleanup_unless_ready EXIT
  local started=0
  for _ in $(seq 1 20); do
    if try_start $((20000 + (RANDOM * 32768 + RANDOM) % 40000)); then
      started=1
      break
    fi
    ((${#pids[@]} == 0)) || kill_pids "${pids[@]}"
    pids=()
  done
  ((started)) || die "no five free ports found after 20 attempts"
  local deadline=$((SECONDS + 60))
  until setup_ready; do
    ((SECONDS < deadline)) || die "the Sentinels did not see the replica and each other within 60 s"
    sleep 0.1
  done
  cat >"$dir/sentinel.info.tmp" <<INFO
host=127.0.0.1
master_port=$master_port
master_pid=$master_pid
replica_port=$replica_port
replica_pid=$replica_pid
sentinel_ports=${sentinel_ports[*]}
pids=${pids[*]}
work_dir=$work_dir
INFO
  mv "$dir/sentinel.info.tmp" "$dir/sentinel.info"
  ready=1
  echo "sentinel_fixture: master $master_port, replica $replica_port, Sentinels ${sentinel_ports[*]} (work dir $work_dir)"
}

info_field() { grep -s "^$1=" "$dir/sentinel.info" | head -n1 | cut -d= -f2- || true; }

stop_quietly() {
  [[ -f "$dir/sentinel.info" ]] || return 0
  local recorded work
  read -r -a recorded <<<"$(info_field pids)"
  work=$(info_field work_dir)
  ((${#recorded[@]} == 0)) || kill_pids "${recorded[@]}"
  if [[ "$work" == */ttlcache-sentinel.* && -d "$work" ]]; then rm -rf -- "$work"; fi
  rm -f "$dir/sentinel.info"
}

case "$action" in
  start) start "$@" ;;
  stop)
    [[ -d "$dir" ]] || exit 0
    dir=$(cd "$dir" && pwd)
    stop_quietly
    echo "sentinel_fixture: stopped the Sentinel setup in $dir"
    ;;
  *) die "unknown action '$action' (start|stop)" ;;
esac

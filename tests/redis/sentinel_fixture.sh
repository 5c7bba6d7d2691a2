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

fixture=sentinel_fixture
what="the Sentinel tests"
info_name=sentinel.info
work_prefix=ttlcache-sentinel
# shellcheck source=fixture_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/fixture_lib.sh"
[[ $# -ge 2 ]] || die "usage: $0 start|stop <dir>"
action=$1
dir=$2
shift 2

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
  begin_start
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
  finish_start <<INFO
host=127.0.0.1
master_port=$master_port
master_pid=$master_pid
replica_port=$replica_port
replica_pid=$replica_pid
sentinel_ports=${sentinel_ports[*]}
pids=${pids[*]}
work_dir=$work_dir
INFO
  echo "sentinel_fixture: master $master_port, replica $replica_port, Sentinels ${sentinel_ports[*]} (work dir $work_dir)"
}

fixture_main "$@"

#!/usr/bin/env bash
# Starts or stops a throwaway Redis Cluster (3 masters + 3 replicas) on loopback ports.
# SPDX-License-Identifier: MIT
#
# usage: cluster_fixture.sh start <dir> [cluster-node-timeout ms, default 1000]
#        cluster_fixture.sh stop  <dir>
#
# start: six redis-servers with cluster-enabled yes, no persistence, their files in a fresh
#   temporary directory, joined with `redis-cli --cluster create ... --cluster-replicas 1
#   --cluster-yes`; waits until every node reports cluster_state:ok and every replica's link is
#   up, then writes <dir>/cluster.info (key=value lines: host, ports (space-separated), pids,
#   work_dir, script). Ports are drawn at random (the cluster bus uses port + 10000 too); a
#   failed bind starts over with other ports.
# stop: SIGTERM, then SIGKILL after 5 s, for every recorded pid; removes the directory.
#
# A missing redis-server or redis-cli is an error, never a skip (in CI and elsewhere).
set -euo pipefail

fixture=cluster_fixture
what="the Redis Cluster tests"
info_name=cluster.info
work_prefix=ttlcache-cluster
# shellcheck source=fixture_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/fixture_lib.sh"
[[ $# -ge 2 ]] || die "usage: $0 start|stop <dir> [node-timeout-ms]"
action=$1
dir=$2
shift 2

nodes=6

# Starts the six nodes on ports base..base+5; returns 1 if one of them could not bind.
try_start() {
  local base=$1 i port pid
  ports=()
  pids=()
  for ((i = 0; i < nodes; i++)); do
    port=$((base + i))
    if port_busy "$port" || port_busy $((port + 10000)); then
      ((${#pids[@]} == 0)) || kill_pids "${pids[@]}"
      return 1
    fi
    mkdir -p "$work_dir/$port"
    setsid redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --cluster-enabled yes --cluster-config-file "nodes-$port.conf" \
      --cluster-node-timeout "$node_timeout" --dir "$work_dir/$port" --daemonize no \
      --loglevel notice --logfile "$work_dir/$port/redis.log" \
      </dev/null >"$work_dir/$port/stdout" 2>&1 &
    ports+=("$port")
    pids+=("$!")
  done
  local deadline=$((SECONDS + 15))
  for ((i = 0; i < nodes; i++)); do
    while :; do
      if ! alive "${pids[$i]}"; then
        kill_pids "${pids[@]}"
        return 1
      fi
      if redis-cli -p "${ports[$i]}" info server 2>/dev/null | tr -d '\r' |
        grep -qx "process_id:${pids[$i]}"; then
        break
      fi
      ((SECONDS < deadline)) || die "node on port ${ports[$i]} did not answer within 15 s"
      sleep 0.05
    done
  done
  return 0
}

cluster_ready() {
  local port info
  for port in "${ports[@]}"; do
    info=$(redis-cli -p "$port" cluster info 2>/dev/null | tr -d '\r') || return 1
    grep -qx 'cluster_state:ok' <<<"$info" || return 1
    grep -qx "cluster_known_nodes:$nodes" <<<"$info" || return 1
    info=$(redis-cli -p "$port" info replication 2>/dev/null | tr -d '\r') || return 1
    if grep -qx 'role:slave' <<<"$info"; then
      grep -qx 'master_link_status:up' <<<"$info" || return 1
    fi
  done
}

start() {
  node_timeout=${1:-1000}
  begin_start
  local started=0 attempt base
  for attempt in $(seq 1 20); do
    base=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
    if try_start "$base"; then
      started=1
      break
    fi
  done
  ((started)) || die "no six free ports found after 20 attempts"

  local addresses=() port
  for port in "${ports[@]}"; do addresses+=("127.0.0.1:$port"); done
  redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes \
    >"$work_dir/create.log" 2>&1 || die "redis-cli --cluster create failed; see $work_dir/create.log"
  local deadline=$((SECONDS + 60))
  until cluster_ready; do
    ((SECONDS < deadline)) || die "the cluster did not reach cluster_state:ok within 60 s"
    sleep 0.1
  done

  local script
  script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
  finish_start <<INFO
host=127.0.0.1
ports=${ports[*]}
pids=${pids[*]}
work_dir=$work_dir
script=$script
INFO
  echo "cluster_fixture: 3 masters + 3 replicas on 127.0.0.1 ports ${ports[*]} (node timeout ${node_timeout} ms, work dir $work_dir)"
}

fixture_main "$@"

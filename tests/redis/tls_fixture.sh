#!/usr/bin/env bash
# Starts or stops the TLS test servers: certificates made with openssl, redis-servers on TLS ports.
# SPDX-License-Identifier: MIT
#
# usage: tls_fixture.sh start <dir>      tls_fixture.sh stop <dir>
#
# start: in a fresh temporary directory, makes with openssl a CA, a second CA, and signed by the
#   first: a server certificate for 127.0.0.1 and localhost, an expired one, one for another
#   host name (wrong.example.com), a client certificate; signed by the second: a server and a
#   client certificate. Then runs, TLS only (--port 0), on random free loopback ports:
#     good        the CA's server certificate, client certificates optional
#     mtls        the same, but a client certificate from the CA is required (tls-auth-clients)
#     other_ca    the second CA's certificate
#     expired     the expired certificate
#     wrong_host  the certificate for wrong.example.com
#     master + sentinel   a master and one Sentinel (quorum 1), both TLS only (tls-replication)
#     cluster     a Redis Cluster of 3 masters, no replicas, TLS for clients and the cluster bus
#                 (--tls-cluster yes; bus on port + 10000), made with redis-cli --tls --cluster
#   waits until each answers PING over TLS (redis-cli --tls), the Sentinel knows the master and
#   every cluster node reports cluster_state:ok, then writes <dir>/tls.info (key=value: the
#   ports, cluster_ports (space-separated), ca_file, client_cert, client_key,
#   other_client_cert, other_client_key, pids, work_dir).
# stop: SIGTERM, then SIGKILL after 5 s, for every recorded pid; removes the directory.
#
# A missing redis-server, redis-cli or openssl is an error, never a skip.
set -euo pipefail

fixture=tls_fixture
what="the TLS tests"
info_name=tls.info
work_prefix=ttlcache-tls
# shellcheck source=fixture_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/fixture_lib.sh"
[[ $# -ge 2 ]] || die "usage: $0 start|stop <dir>"
action=$1
dir=$2
shift 2

# ---- certificates ----
make_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

make_ca() { # name common-name
  make_key "$certs/$1.key"
  openssl req -x509 -new -key "$certs/$1.key" -out "$certs/$1.crt" -days 30 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
}

make_cert() { # name ca days extended-key-usage subject-alt-names
  local name=$1 ca=$2 days=$3 usage=$4 san=${5:-}
  make_key "$certs/$name.key"
  openssl req -new -key "$certs/$name.key" -out "$certs/$name.csr" -subj "/CN=$name" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "extendedKeyUsage=$usage"
    [[ -z "$san" ]] || echo "subjectAltName=$san"
  } >"$certs/$name.ext"
  # days -1: valid from now until yesterday, i.e. already expired.
  openssl x509 -req -in "$certs/$name.csr" -CA "$certs/$ca.crt" -CAkey "$certs/$ca.key" \
    -CAcreateserial -out "$certs/$name.crt" -days "$days" -extfile "$certs/$name.ext" 2>/dev/null
}

make_certificates() {
  command -v openssl >/dev/null 2>&1 || die "openssl not found: $what make their certificates with it (apt-get install openssl)"
  certs="$work_dir/certs"
  mkdir -p "$certs"
  make_ca ca "ttlcache test CA"
  make_ca other_ca "ttlcache other test CA"
  local here="IP:127.0.0.1,DNS:localhost"
  make_cert server ca 30 serverAuth "$here"
  make_cert expired ca -1 serverAuth "$here"
  make_cert wrong_host ca 30 serverAuth "DNS:wrong.example.com"
  make_cert other_server other_ca 30 serverAuth "$here"
  make_cert client ca 30 clientAuth
  make_cert other_client other_ca 30 clientAuth
  chmod 600 "$certs"/*.key
  # A hashed folder holding only the first CA, for tls_ca_dir.
  mkdir -p "$certs/trusted"
  cp "$certs/ca.crt" "$certs/trusted/"
  openssl rehash "$certs/trusted" >/dev/null 2>&1 || die "openssl rehash failed"
}

# ---- servers ----
cli_tls() { # port [redis-cli args...]
  local port=$1
  shift
  redis-cli -h 127.0.0.1 -p "$port" --tls --insecure --cert "$certs/client.crt" \
    --key "$certs/client.key" "$@"
}

# Waits until the process on port answers over TLS with its own pid; 1 if it died (port taken).
wait_answer() {
  local port=$1 pid=$2 deadline=$((SECONDS + 15))
  while ((SECONDS < deadline)); do
    alive "$pid" || return 1
    if cli_tls "$port" info server 2>/dev/null | tr -d '\r' | grep -qx "process_id:$pid"; then
      return 0
    fi
    sleep 0.05
  done
  die "the process on TLS port $port did not answer within 15 s (log in $work_dir)"
}

free_port() {
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if ! port_busy "$port"; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found after 100 attempts"
}

# start_server name cert auth-clients [extra args...]: sets port_<name> and appends to pids.
start_server() {
  local name=$1 cert=$2 auth=$3
  shift 3
  local port pid
  for _ in $(seq 1 20); do
    port=$(free_port)
    mkdir -p "$work_dir/$name"
    setsid redis-server --port 0 --tls-port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --daemonize no --loglevel notice --dir "$work_dir/$name" \
      --logfile "$work_dir/$name/redis.log" --tls-cert-file "$certs/$cert.crt" \
      --tls-key-file "$certs/$cert.key" --tls-ca-cert-file "$certs/ca.crt" \
      --tls-auth-clients "$auth" "$@" </dev/null >/dev/null 2>&1 &
    pid=$!
    if wait_answer "$port" "$pid"; then
      pids+=("$pid")
      printf -v "port_$name" '%s' "$port"
      return 0
    fi
  done
  die "could not start the $name server after 20 attempts (log: $work_dir/$name/redis.log)"
}

start_sentinel() {
  local port pid conf
  for _ in $(seq 1 20); do
    port=$(free_port)
    mkdir -p "$work_dir/sentinel"
    conf="$work_dir/sentinel/sentinel.conf"
    cat >"$conf" <<CONF
port 0
tls-port $port
bind 127.0.0.1
daemonize no
dir $work_dir/sentinel
logfile $work_dir/sentinel/sentinel.log
tls-cert-file $certs/server.crt
tls-key-file $certs/server.key
tls-ca-cert-file $certs/ca.crt
tls-auth-clients no
tls-replication yes
sentinel monitor mymaster 127.0.0.1 $port_master 1
sentinel down-after-milliseconds mymaster 1000
CONF
    setsid redis-server "$conf" --sentinel </dev/null >/dev/null 2>&1 &
    pid=$!
    if wait_answer "$port" "$pid"; then
      pids+=("$pid")
      port_sentinel=$port
      return 0
    fi
  done
  die "could not start the Sentinel after 20 attempts"
}

# A TLS-only Redis Cluster of three masters (no replicas): clients and the cluster bus both
# speak TLS (--tls-cluster yes). The bus always asks the connecting node for a client
# certificate, which the serverAuth-only server certificate is not: the nodes present the
# fixture's client certificate there. Sets cluster_ports (the TLS ports) and appends to pids.
start_cluster() {
  local i port pid attempt
  cluster_ports=()
  for ((i = 0; i < 3; i++)); do
    for attempt in $(seq 1 20); do
      # The bus listens on port + 10000 (set explicitly): both must be free.
      port=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
      if port_busy "$port" || port_busy $((port + 10000)); then continue; fi
      mkdir -p "$work_dir/cluster-$port"
      setsid redis-server --port 0 --tls-port "$port" --bind 127.0.0.1 --save '' \
        --appendonly no --daemonize no --loglevel notice --dir "$work_dir/cluster-$port" \
        --logfile "$work_dir/cluster-$port/redis.log" --tls-cert-file "$certs/server.crt" \
        --tls-key-file "$certs/server.key" --tls-ca-cert-file "$certs/ca.crt" \
        --tls-client-cert-file "$certs/client.crt" --tls-client-key-file "$certs/client.key" \
        --tls-auth-clients no --tls-cluster yes --tls-replication yes --cluster-enabled yes \
        --cluster-port $((port + 10000)) --cluster-config-file "nodes-$port.conf" \
        --cluster-node-timeout 2000 </dev/null >/dev/null 2>&1 &
      pid=$!
      if wait_answer "$port" "$pid"; then
        pids+=("$pid")
        cluster_ports+=("$port")
        continue 2
      fi
    done
    die "could not start TLS cluster node $((i + 1)) of 3 after 20 attempts (logs in $work_dir)"
  done
  local addresses=()
  for port in "${cluster_ports[@]}"; do addresses+=("127.0.0.1:$port"); done
  redis-cli --tls --cacert "$certs/ca.crt" --cluster create "${addresses[@]}" \
    --cluster-replicas 0 --cluster-yes >"$work_dir/cluster-create.log" 2>&1 ||
    die "redis-cli --tls --cluster create failed; see $work_dir/cluster-create.log"
  local deadline=$((SECONDS + 60)) info ready
  while :; do
    ready=1
    for port in "${cluster_ports[@]}"; do
      info=$(cli_tls "$port" cluster info 2>/dev/null | tr -d '\r') || info=
      if ! grep -qx 'cluster_state:ok' <<<"$info" || ! grep -qx 'cluster_known_nodes:3' <<<"$info"; then
        ready=0
        break
      fi
    done
    ((ready == 0)) || break
    ((SECONDS < deadline)) || die "the TLS cluster did not reach cluster_state:ok with 3 known nodes on every node within 60 s (node on port $port: $(grep -E 'cluster_state|cluster_known_nodes' <<<"$info" | tr '\n' ' '); logs in $work_dir)"
    sleep 0.1
  done
}

start() {
  begin_start
  make_certificates
  start_server good server no
  start_server mtls server yes
  start_server other_ca other_server no
  start_server expired expired no
  start_server wrong_host wrong_host no
  start_server master server no --tls-replication yes
  start_sentinel
  start_cluster
  local deadline=$((SECONDS + 30))
  until cli_tls "$port_sentinel" sentinel get-master-addr-by-name mymaster 2>/dev/null |
    tr -d '\r' | grep -qx "$port_master"; do
    ((SECONDS < deadline)) || die "the Sentinel did not name the master within 30 s"
    sleep 0.05
  done
  finish_start <<INFO
host=127.0.0.1
good_port=$port_good
mtls_port=$port_mtls
other_ca_port=$port_other_ca
expired_port=$port_expired
wrong_host_port=$port_wrong_host
master_port=$port_master
sentinel_port=$port_sentinel
cluster_ports=${cluster_ports[*]}
ca_file=$certs/ca.crt
ca_dir=$certs/trusted
client_cert=$certs/client.crt
client_key=$certs/client.key
other_client_cert=$certs/other_client.crt
other_client_key=$certs/other_client.key
pids=${pids[*]}
work_dir=$work_dir
INFO
  echo "tls_fixture: TLS servers good $port_good, mtls $port_mtls, other CA $port_other_ca, expired $port_expired, wrong host $port_wrong_host, master $port_master, Sentinel $port_sentinel, cluster ${cluster_ports[*]} (work dir $work_dir)"
}

fixture_main "$@"

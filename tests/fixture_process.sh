# Process and port helpers shared by every server fixture (Redis, Redis Cluster/Sentinel/TLS,
# PostgreSQL): sourced, not run.
# SPDX-License-Identifier: MIT

# Is the process alive? A zombie counts as dead: it has exited, only its parent has not reaped it.
alive() { [[ -r "/proc/$1/status" ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# Is something listening on the loopback port already? (A cheap pre-check; the bind decides.)
port_busy() {
  if command -v ss >/dev/null 2>&1; then
    [[ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

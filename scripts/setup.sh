# Shared set-up for scripts/demo and scripts/test (sourced, not run): checks the Debian
# packages ttlcache needs and installs the missing ones when running as root.
# SPDX-License-Identifier: MIT

ttlcache_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ttlcache_jobs="$(nproc 2>/dev/null || echo 2)"

# package -> a file that shows it is installed
ttlcache_packages=(
  "cmake:/usr/bin/cmake"
  "g++:/usr/bin/g++"
  "make:/usr/bin/make"
  "pkg-config:/usr/bin/pkg-config"
  "libfmt-dev:/usr/include/fmt/format.h"
  "nlohmann-json3-dev:/usr/include/nlohmann/json.hpp"
  "catch2:/usr/include/catch2/catch.hpp"
  "libbenchmark-dev:/usr/include/benchmark/benchmark.h"
  "libhiredis-dev:/usr/include/hiredis/hiredis.h"
  "libssl-dev:/usr/include/openssl/ssl.h"
  "openssl:/usr/bin/openssl"
  "libcpp-httplib-dev:/usr/include/httplib.h"
  "redis-server:/usr/bin/redis-server"
  "redis-tools:/usr/bin/redis-cli"
  "xz-utils:/usr/bin/xz"
  "python3:/usr/bin/python3"
  # examples/service: SQLite (FTS5) as the embedded database, cmark for markdown, and
  # PostgreSQL 15 as the server option (libpq to build; the server for its tests and the demo).
  "libsqlite3-dev:/usr/include/sqlite3.h"
  "libcmark-dev:/usr/include/cmark.h"
  "postgresql:/usr/lib/postgresql/15/bin/postgres"
  "libpq-dev:/usr/include/postgresql/libpq-fe.h"
)

# ttlcache_require [extra "package:file" ...]: installs what is missing (as root) or prints the
# one apt-get line to run and fails.
ttlcache_require() {
  local missing=() entry pkg file
  for entry in "${ttlcache_packages[@]}" "$@"; do
    pkg="${entry%%:*}"
    file="${entry#*:}"
    [ -e "$file" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "ttlcache needs these Debian packages: ${missing[*]}" >&2
    echo "install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    return 1
  fi
}

# ttlcache_configure <build-dir> [cmake args...]
ttlcache_configure() {
  local dir="$1"
  shift
  # ccache, when the machine has it, makes a rebuild of unchanged sources nearly free (it is
  # optional: nothing requires it).
  local launcher=()
  if command -v ccache >/dev/null && [ -z "${TTLCACHE_NO_CCACHE:-}" ]; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S "$ttlcache_root" -B "$dir" "${launcher[@]}" "$@" >"$dir.configure.log" 2>&1 || {
    cat "$dir.configure.log" >&2
    return 1
  }
}

#!/usr/bin/env bash
# Proves both ways of consuming ttlcache: install + find_package (and pkg-config), and
# add_subdirectory. Usage: run.sh <configured ttlcache build dir> <scratch dir>
# SPDX-License-Identifier: MIT
set -euo pipefail
build="$1"
work="$2"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rm -rf "$work"
mkdir -p "$work"

cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"

echo "-- find_package(ttlcache) from $work/prefix"
cmake -S "$src/tests/package" -B "$work/find" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DTTLCACHE_CONSUMER_MODE=find_package >"$work/find.log"
cmake --build "$work/find" -j2 >>"$work/find.log"
"$work/find/consumer"
[ ! -x "$work/find/consumer_redis" ] || "$work/find/consumer_redis"

echo "-- add_subdirectory(ttlcache)"
cmake -S "$src/tests/package" -B "$work/subdir" -DTTLCACHE_CONSUMER_MODE=add_subdirectory \
  -DTTLCACHE_SOURCE_DIR="$src" >"$work/subdir.log"
cmake --build "$work/subdir" -j2 >>"$work/subdir.log"
"$work/subdir/consumer"

echo "-- pkg-config ttlcache"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig"
# shellcheck disable=SC2046
g++ -std=c++17 "$src/tests/package/main.cpp" -o "$work/pc_consumer" \
  "-DTTLCACHE_CMAKE_VERSION=\"$(pkg-config --modversion ttlcache)\"" \
  $(pkg-config --cflags --libs ttlcache)
"$work/pc_consumer"
echo "package consumers: ok"

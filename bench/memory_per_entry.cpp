// Resident memory per entry: ttlcache's in-process backend vs a bare std::unordered_map.
// SPDX-License-Identifier: MIT
//
// Each contestant runs in its own forked child, so one's freed memory cannot flatter another.
// A child reads its resident set size (/proc/self/statm) before and after inserting N entries.
// Usage: memory_per_entry [entries=1000000]
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unordered_map>

#include "ttlcache/memory_backend.hpp"

namespace {

long resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0;
  long resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// Keys and values fit the small-string buffer: the figure is the structure's own overhead,
// the worst case for the ratio (heap-allocated keys add the same bytes to both sides).
std::string key_of(std::size_t i) {
  char buf[32];  // "key:" + up to 20 digits + NUL: never truncated (g++ 12 checks)
  std::snprintf(buf, sizeof buf, "key:%08zu", i);
  return buf;
}
std::string value_of(std::size_t i) { return "v" + std::to_string(i % 10000000); }

template <class Fill>
double measure_in_child(std::size_t n, Fill&& fill) {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const long before = resident_bytes();
    fill(n);
    const double per_entry = static_cast<double>(resident_bytes() - before) / n;
    if (write(fds[1], &per_entry, sizeof per_entry) != sizeof per_entry) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  double per_entry = 0;
  if (read(fds[0], &per_entry, sizeof per_entry) != sizeof per_entry) std::abort();
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return per_entry;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1'000'000;

  const double bare = measure_in_child(n, [](std::size_t count) {
    auto* m = new std::unordered_map<std::string, std::string>();
    for (std::size_t i = 0; i < count; ++i) m->emplace(key_of(i), value_of(i));
  });
  const double ours = measure_in_child(n, [](std::size_t count) {
    ttlcache::MemoryOptions<std::string, std::string> o;
    o.max_entries = count;
    auto* b = new ttlcache::MemoryBackend<std::string, std::string>(o);
    for (std::size_t i = 0; i < count; ++i) {
      b->set(key_of(i), value_of(i), std::chrono::hours(1));
    }
  });
  const double ours_one_shard = measure_in_child(n, [](std::size_t count) {
    ttlcache::MemoryOptions<std::string, std::string> o;
    o.max_entries = count;
    o.shards = 1;
    auto* b = new ttlcache::MemoryBackend<std::string, std::string>(o);
    for (std::size_t i = 0; i < count; ++i) {
      b->set(key_of(i), value_of(i), std::chrono::hours(1));
    }
  });

  std::printf("entries: %zu (std::string keys and values, small-string sized)\n", n);
  std::printf("%-44s %8.1f bytes/entry  1.00x\n", "std::unordered_map<string,string>", bare);
  std::printf("%-44s %8.1f bytes/entry  %.2fx\n", "ttlcache MemoryBackend (default shards)", ours,
              ours / bare);
  std::printf("%-44s %8.1f bytes/entry  %.2fx\n", "ttlcache MemoryBackend (1 shard)",
              ours_one_shard, ours_one_shard / bare);
  return 0;
}

// The second process of the two-process chaos scenario: the same cache recipe on the same Redis
// and keys, reading and writing while the test process injects the fault.
// SPDX-License-Identifier: MIT
//
// usage: chaos_peer PORT NAMESPACE DATABASE_FILE CONTROL_FILE KEYS
// The test process creates both files; this process maps them, builds its cache, runs a reader
// and a writer until told to stop, checks that every key converges, and writes its figures into
// the control file.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <thread>

#include "chaos/chaos_support.hpp"
#include "chaos/configs.hpp"
#include "chaos/two_process.hpp"

using namespace ttlcache_chaos;

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: chaos_peer PORT NAMESPACE DATABASE_FILE CONTROL_FILE KEYS\n");
    return 2;
  }
  try {
    const int port = std::stoi(argv[1]);
    const std::string ns = argv[2];
    const int keys = std::stoi(argv[5]);
    Database db(keys, argv[3], false);
    SharedMemory control_memory(argv[4], sizeof(RunControl), false);
    auto& control = *static_cast<RunControl*>(control_memory.data());
    const Settings settings;
    auto cache = make_built_tiered(port, ns, settings);
    Workload w(db);
    w.add_reader(cache, 91);
    w.add_writer(cache, 92, std::chrono::milliseconds(20), true);
    control.ready.store(1);
    // The test runs for about 10 s; a peer left alone stops by itself.
    const auto limit = SteadyClock::now() + std::chrono::seconds(60);
    while (control.stop.load() == 0 && SteadyClock::now() < limit) {
      w.set_phase(static_cast<Phase>(control.phase.load()));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    w.stop();
    control.peer_stopped.store(1);
    PeerReport& r = control.report;
    std::string detail;
    r.converged_ms = converge(cache, db, std::chrono::seconds(10), &detail);
    std::strncpy(r.converge_detail, detail.c_str(), sizeof(r.converge_detail) - 1);
    for (int p = 0; p < 3; ++p) {
      PhaseFigures& f = w.figures(static_cast<Phase>(p));
      r.calls[p] = f.calls;
      r.exceptions[p] = f.exceptions;
      r.loads[p] = f.loads;
      r.hit_rate[p] = f.hit_rate();
      r.stale_reads += f.stale_reads;
      r.worst_staleness_ms = std::max(r.worst_staleness_ms, f.worst_staleness_ms);
      if (r.first_exception[0] == '\0' && !f.first_exception.empty()) {
        std::strncpy(r.first_exception, f.first_exception.c_str(), sizeof(r.first_exception) - 1);
      }
    }
    r.max_fault_ms = w.figures(fault).max_ms();
    r.writer_exceptions = w.writer_exceptions();
    control.done.store(1);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chaos_peer: %s\n", e.what());
    return 1;
  }
}

// Fault-injection scenarios over real redis-server processes and a loopback fault proxy.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "chaos/chaos_support.hpp"
#include "chaos/configs.hpp"
#include "chaos/fault_proxy.hpp"
#include "chaos/two_process.hpp"
#include "redis/redis_test_support.hpp"

using namespace std::chrono_literals;
using namespace ttlcache_chaos;
using ttlcache_test::OwnServer;
using ttlcache_test::unique_namespace;

namespace {

// Callers may pay the deadline once per stall (the whole call: read, stamps and write share one
// budget), plus scheduling on a loaded 2-core machine; under a sanitizer every step runs several
// times slower, so the scheduling share is larger. The default slack stays under one budget so
// that a call paying the budget twice fails.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr double max_call_slack_ms = 750;
#else
constexpr double max_call_slack_ms = 240;
#endif

std::uint64_t l2_calls_refused(const TieredTaggedSetup& s) { return s.l2->stats().rejected; }

void print_figures(const char* scenario, Workload& w, double recovery_ms, double budget_ms,
                   const std::string& extra) {
  PhaseFigures& b = w.figures(before);
  PhaseFigures& f = w.figures(fault);
  PhaseFigures& a = w.figures(after);
  std::printf(
      "chaos %s: exceptions %llu/%llu/%llu (before/fault/after); hit rate %.3f before, %.3f "
      "during the fault, %.3f after; loads during the fault %llu; stale reads %llu, worst "
      "staleness %.0f ms; call time during the fault p99 %.1f ms, max %.1f ms (deadline %.0f "
      "ms); recovery %.0f ms%s\n",
      scenario, static_cast<unsigned long long>(b.exceptions),
      static_cast<unsigned long long>(f.exceptions), static_cast<unsigned long long>(a.exceptions),
      b.hit_rate(), f.hit_rate(), a.hit_rate(), static_cast<unsigned long long>(f.loads),
      static_cast<unsigned long long>(b.stale_reads + f.stale_reads + a.stale_reads),
      std::max({b.worst_staleness_ms, f.worst_staleness_ms, a.worst_staleness_ms}),
      f.percentile(0.99), f.max_ms(), budget_ms, recovery_ms, extra.c_str());
  std::fflush(stdout);
  if (!f.first_exception.empty()) std::printf("  first exception: %s\n", f.first_exception.c_str());
}

struct Rig {
  OwnServer server;
  FaultProxy data;
  FaultProxy bus;
  Endpoints at;
  explicit Rig(std::vector<std::string> server_args = {})
      : server(std::move(server_args)), data(server.port()), bus(server.port()) {
    at.data_port = data.port();
    at.bus_port = bus.port();
    at.key_namespace = unique_namespace("chaos");
    at.channel = at.key_namespace + ":bus";
  }
};

// The common shape: warm up, run the fault, measure recovery, run a little longer, stop.
template <class Fault, class Heal, class Recovered>
double run_phases(Workload& w, Fault&& start_fault, std::chrono::milliseconds fault_for,
                  Heal&& heal, Recovered&& recovered) {
  std::this_thread::sleep_for(1s);
  w.set_phase(fault);
  start_fault();
  std::this_thread::sleep_for(fault_for);
  heal();
  w.set_phase(after);
  const double recovery = wait_for(recovered, 10s);
  std::this_thread::sleep_for(1s);
  w.stop();
  return recovery;
}

void check_tiered_contract(Workload& w, double recovery_ms, const Settings& s,
                           double max_recovery_ms = 3000) {
  PhaseFigures& b = w.figures(before);
  PhaseFigures& f = w.figures(fault);
  PhaseFigures& a = w.figures(after);
  INFO("first exception during the fault: " << f.first_exception);
  CHECK(b.exceptions == 0);
  CHECK(f.exceptions == 0);
  CHECK(a.exceptions == 0);
  REQUIRE(f.calls > 100);
  // L1 keeps serving: the fault costs at most half of the hits it had before.
  CHECK(f.hit_rate() >= 0.5 * b.hit_rate());
  CHECK(f.max_ms() <= static_cast<double>(s.call_budget.count()) + max_call_slack_ms);
  CHECK(std::max({b.worst_staleness_ms, f.worst_staleness_ms, a.worst_staleness_ms}) <=
        static_cast<double>(s.l1_max_ttl.count()));
  CHECK(recovery_ms >= 0);
  CHECK(recovery_ms <= max_recovery_ms);
}

}  // namespace

TEST_CASE("Redis SIGKILLed and restarted under a tagged tiered cache", "[chaos]") {
  Rig rig;
  Settings settings;
  auto setup = make_tiered_tagged(rig.at, settings);
  REQUIRE(setup.bus->wait_until_subscribed(10s));
  Database db(400);
  Workload w(db);
  w.add_reader(*setup.cache, 1);
  w.add_reader(*setup.cache, 2);
  w.add_writer(*setup.cache, 3, 20ms);
  const auto refused_before = l2_calls_refused(setup);
  const double recovery = run_phases(
      w, [&] { rig.server.kill_hard(); }, 2s, [&] { rig.server.restart(); },
      [&] {
        return setup.l2->stats().breaker == ttlcache::BreakerState::closed && setup.bus->healthy();
      });
  const auto tiered = setup.parts.tiered->stats();
  print_figures("kill+restart (tagged tiered)", w, recovery,
                static_cast<double>(settings.call_budget.count()),
                "; L1 served on L2 failure " + std::to_string(tiered.l1_served_on_failure) +
                    ", stamps served locally " +
                    std::to_string(setup.parts.stamps->served_on_failure()) +
                    ", L2 calls refused by the breaker " +
                    std::to_string(l2_calls_refused(setup) - refused_before));
  check_tiered_contract(w, recovery, settings);
}

TEST_CASE("the data connection blackholed for 1.5 s", "[chaos]") {
  Rig rig;
  Settings settings;
  auto setup = make_tiered_tagged(rig.at, settings);
  REQUIRE(setup.bus->wait_until_subscribed(10s));
  Database db(400);
  Workload w(db);
  w.add_reader(*setup.cache, 11);
  w.add_reader(*setup.cache, 12);
  w.add_writer(*setup.cache, 13, 20ms);
  const double recovery = run_phases(
      w, [&] { rig.data.blackhole(); }, 1500ms, [&] { rig.data.pass(); },
      [&] { return setup.l2->stats().breaker == ttlcache::BreakerState::closed; });
  print_figures("data blackhole 1.5 s", w, recovery,
                static_cast<double>(settings.call_budget.count()),
                "; bytes dropped " + std::to_string(rig.data.dropped_bytes()));
  check_tiered_contract(w, recovery, settings);
}

TEST_CASE("the data connections reset and refused for 1.5 s", "[chaos]") {
  Rig rig;
  Settings settings;
  auto setup = make_tiered_tagged(rig.at, settings);
  REQUIRE(setup.bus->wait_until_subscribed(10s));
  Database db(400);
  Workload w(db);
  w.add_reader(*setup.cache, 21);
  w.add_reader(*setup.cache, 22);
  w.add_writer(*setup.cache, 23, 20ms);
  const double recovery = run_phases(
      w,
      [&] {
        rig.data.refuse(true);
        rig.data.reset_all();
      },
      1500ms, [&] { rig.data.refuse(false); },
      [&] { return setup.l2->stats().breaker == ttlcache::BreakerState::closed; });
  print_figures("data reset+refuse 1.5 s", w, recovery,
                static_cast<double>(settings.call_budget.count()), "");
  check_tiered_contract(w, recovery, settings);
}

TEST_CASE("the data connection delayed by 400 ms for 2 s", "[chaos]") {
  Rig rig;
  Settings settings;
  auto setup = make_tiered_tagged(rig.at, settings);
  REQUIRE(setup.bus->wait_until_subscribed(10s));
  Database db(400);
  Workload w(db);
  w.add_reader(*setup.cache, 31);
  w.add_reader(*setup.cache, 32);
  w.add_writer(*setup.cache, 33, 20ms);
  const auto opened_before = setup.l2->breaker()->counters().opened;
  const double recovery = run_phases(
      w, [&] { rig.data.delay(400ms); }, 2s, [&] { rig.data.pass(); },
      [&] { return setup.l2->stats().breaker == ttlcache::BreakerState::closed; });
  const auto counters = setup.l2->breaker()->counters();
  print_figures("data delay 400 ms for 2 s", w, recovery,
                static_cast<double>(settings.call_budget.count()),
                "; breaker opened " + std::to_string(counters.opened - opened_before) +
                    " time(s), slow calls " + std::to_string(counters.slow_calls));
  check_tiered_contract(w, recovery, settings);
  CHECK(counters.opened > opened_before);
}

TEST_CASE("DEBUG SLEEP 2 under two threads opens the breaker, callers wait once", "[chaos]") {
  Rig rig({"--enable-debug-command", "yes"});
  Settings settings;
  auto setup = make_tiered_tagged(rig.at, settings);
  REQUIRE(setup.bus->wait_until_subscribed(10s));
  Database db(3000);
  Workload w(db);
  w.add_reader(*setup.cache, 41);
  w.add_reader(*setup.cache, 42);
  const auto opened_before = setup.l2->breaker()->counters().opened;
  std::thread sleeper;
  const double recovery = run_phases(
      w,
      [&] {
        sleeper = std::thread([&] {
          ttlcache_test::RawClient raw(rig.server.port());
          raw.command({"DEBUG", "SLEEP", "2"});
        });
      },
      2s, [&] { sleeper.join(); },
      [&] { return setup.l2->stats().breaker == ttlcache::BreakerState::closed; });
  const auto counters = setup.l2->breaker()->counters();
  const auto resilient = setup.l2->stats();
  PhaseFigures& f = w.figures(fault);
  const auto slow = f.slower_than(static_cast<double>(settings.call_budget.count()) / 2);
  std::printf(
      "  l2 layer: failures %llu, rejected %llu, failed writes %llu, repairs %llu, repaired keys "
      "%llu, pending %zu\n",
      static_cast<unsigned long long>(resilient.failures),
      static_cast<unsigned long long>(resilient.rejected),
      static_cast<unsigned long long>(resilient.failed_writes),
      static_cast<unsigned long long>(resilient.repairs),
      static_cast<unsigned long long>(resilient.repaired_keys), resilient.pending_keys);
  print_figures(
      "DEBUG SLEEP 2, two threads", w, recovery, static_cast<double>(settings.call_budget.count()),
      "; calls over half the deadline " + std::to_string(slow) + ", breaker opened " +
          std::to_string(counters.opened - opened_before) + " time(s), probes " +
          std::to_string(counters.probes) + ", slow calls " + std::to_string(counters.slow_calls));
  CHECK(f.exceptions == 0);
  CHECK(f.max_ms() <= static_cast<double>(settings.call_budget.count()) + max_call_slack_ms);
  CHECK(counters.opened > opened_before);
  CHECK(recovery >= 0);
}

namespace {

// Instance A writes, instance B reads; only B's bus connection goes through the proxy.
void bus_blackhole(std::chrono::milliseconds length, double staleness_bound_ms) {
  OwnServer server;
  FaultProxy b_bus(server.port());
  Settings settings;
  Endpoints a_at;
  a_at.data_port = server.port();
  a_at.bus_port = server.port();
  a_at.key_namespace = unique_namespace("chaos-bus");
  a_at.channel = a_at.key_namespace + ":bus";
  Endpoints b_at = a_at;
  b_at.bus_port = b_bus.port();
  auto a = make_tiered_tagged(a_at, settings);
  auto b = make_tiered_tagged(b_at, settings);
  REQUIRE(a.bus->wait_until_subscribed(10s));
  REQUIRE(b.bus->wait_until_subscribed(10s));
  Database db(50);
  Workload w(db);
  w.add_writer(*a.cache, 51, 10ms);
  w.add_reader(*b.cache, 52);
  w.add_reader(*b.cache, 53);
  const auto before_stats = b.bus->stats();
  const double recovery = run_phases(
      w, [&] { b_bus.blackhole(); }, length, [&] { b_bus.pass(); },
      [&] { return b.bus->healthy(); });
  const auto after_stats = b.bus->stats();
  const auto gaps = after_stats.gaps - before_stats.gaps;
  const auto resubscriptions = after_stats.subscriptions - before_stats.subscriptions;
  const std::string name = "bus blackhole " + std::to_string(length.count()) + " ms";
  print_figures(name.c_str(), w, recovery, static_cast<double>(settings.call_budget.count()),
                "; gaps detected " + std::to_string(gaps) + ", resubscriptions " +
                    std::to_string(resubscriptions) + ", staleness bound " +
                    std::to_string(static_cast<long long>(staleness_bound_ms)) + " ms");
  PhaseFigures& f = w.figures(fault);
  PhaseFigures& af = w.figures(after);
  CHECK(w.figures(before).exceptions + f.exceptions + af.exceptions == 0);
  // The loss was noticed (a gap or a resubscription), and nothing was older than the bound.
  CHECK(gaps + resubscriptions >= 1);
  CHECK(std::max(f.worst_staleness_ms, af.worst_staleness_ms) <= staleness_bound_ms);
}

}  // namespace

TEST_CASE("only the bus connection blackholed for 1.5 s: the gap is detected", "[chaos]") {
  // 1.5 s of loss + the gap grace (200 ms) + the subscriber's poll period + scheduling.
  bus_blackhole(1500ms, 2500);
}

TEST_CASE("only the bus connection blackholed for 10 s", "[chaos]") {
  // The heartbeat (1 s) notices within about 2 s; L1 is bypassed until resubscribed.
  bus_blackhole(10s, 3500);
}

TEST_CASE("fail-safe over a degrading Redis store survives a SIGKILL and restart", "[chaos]") {
  Rig rig;
  Settings settings;
  auto setup = make_fail_safe(rig.at, settings);
  Database db(400);
  Workload w(db);
  w.add_reader(*setup.cache, 61, false);
  w.add_reader(*setup.cache, 62, false);
  const double recovery = run_phases(
      w, [&] { rig.server.kill_hard(); }, 2s, [&] { rig.server.restart(); },
      [&] { return setup.guarded->stats().breaker == ttlcache::BreakerState::closed; });
  print_figures("fail-safe (degrade below) kill+restart", w, recovery,
                static_cast<double>(settings.call_budget.count()), "");
  PhaseFigures& f = w.figures(fault);
  INFO("first exception: " << w.figures(before).first_exception << f.first_exception
                           << w.figures(after).first_exception);
  CHECK(w.figures(before).exceptions + f.exceptions + w.figures(after).exceptions == 0);
  CHECK(w.figures(before).hit_rate() > 0.5);
  CHECK(f.loads > 0);  // the loader was tried, and its values returned
  CHECK(f.max_ms() <= static_cast<double>(settings.call_budget.count()) + max_call_slack_ms);
  CHECK(recovery >= 0);
}

// Issue 15, item 2: with fail-safe, the load engine treats an unreadable cache as a miss (the
// loader is asked) and returns a loaded value even when storing it fails.
TEST_CASE("the documented fail-safe snippet survives a SIGKILL and restart", "[chaos]") {
  Rig rig;
  Settings settings;
  auto setup = make_plain_fail_safe(rig.at, settings);
  Database db(400);
  Workload w(db);
  w.add_reader(*setup.cache, 71, false);
  w.add_reader(*setup.cache, 72, false);
  const double recovery = run_phases(
      w, [&] { rig.server.kill_hard(); }, 2s, [&] { rig.server.restart(); },
      [&] {
        try {
          return setup.cache->get("probe").has_value() || true;
        } catch (const std::exception&) {
          return false;
        }
      });
  print_figures("fail-safe snippet kill+restart", w, recovery,
                static_cast<double>(settings.call_budget.count()), "");
  PhaseFigures& f = w.figures(fault);
  CHECK(f.exceptions == 0);
  CHECK(f.loads > 0);
}

namespace {
std::string tier_counts(const ttlcache::CacheStats& stats) {
  std::string out;
  for (const auto& [name, t] : stats.tiers) {
    out += name + " hits " + std::to_string(t.hits) + " misses " + std::to_string(t.misses) +
           " errors " + std::to_string(t.errors) + "; ";
  }
  return out;
}

// The builder's tiered cache (with or without tags) under a Redis SIGKILL and restart, with
// the contract read from what a user sees: Cache::stats().
void built_kill_restart(bool tagged, unsigned seed) {
  Rig rig;
  Settings settings;
  auto cache = make_built_tiered(rig.at.data_port, rig.at.key_namespace, settings, tagged);
  Database db(400);
  Workload w(db);
  w.add_reader(cache, seed, tagged);
  w.add_reader(cache, seed + 1, tagged);
  w.add_writer(cache, seed + 2, 20ms, false, tagged);
  const double recovery = run_phases(
      w, [&] { rig.server.kill_hard(); }, 2s, [&] { rig.server.restart(); },
      [&] { return l2_closed(cache); });
  const auto stats = cache.stats();
  const auto l2 = stats.tiers.find("l2");
  const std::uint64_t transitions = l2 == stats.tiers.end() ? 0 : l2->second.breaker_transitions;
  print_figures(tagged ? "kill+restart (builder: tiered, tags, degrade, call_deadline)"
                       : "kill+restart (builder: tiered without tags, degrade, call_deadline)",
                w, recovery, static_cast<double>(settings.call_budget.count()),
                "; l2 breaker transitions " + std::to_string(transitions) + ", backend errors " +
                    std::to_string(stats.backend_errors) + ", calls before the fault " +
                    std::to_string(w.figures(before).calls) + ", " + tier_counts(stats));
  check_tiered_contract(w, recovery, settings);
  CHECK(transitions >= 2);  // it opened during the outage and closed after
}

}  // namespace

TEST_CASE("the builder's tagged tiered cache: Redis SIGKILLed and restarted", "[chaos]") {
  built_kill_restart(true, 101);
}

TEST_CASE("the builder's untagged tiered cache: Redis SIGKILLed and restarted", "[chaos]") {
  built_kill_restart(false, 111);
}

namespace {

std::string make_temp_dir() {
  char pattern[] = "/tmp/ttlcache-chaos-two.XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

// The peer process, killed if it outlives the test.
class Peer {
 public:
  explicit Peer(std::vector<std::string> args) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(TTLCACHE_CHAOS_PEER));
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, TTLCACHE_CHAOS_PEER, nullptr, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error(std::string("cannot start ") + TTLCACHE_CHAOS_PEER);
    }
  }
  ~Peer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;
  /// Its exit status once it has exited within `limit`; -1 when it had not (it is then killed).
  int wait_exit(std::chrono::milliseconds limit) {
    int status = 0;
    const auto exited = wait_for([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, limit);
    if (exited < 0) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("two processes write and read the same keys while Redis is SIGKILLed and restarted",
          "[chaos]") {
  Rig rig;
  Settings settings;
  const std::string dir = make_temp_dir();
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      const int rc = std::system(("rm -rf '" + dir + "'").c_str());
      (void)rc;
    }
  } cleanup{dir};
  const int keys = 200;
  Database db(keys, dir + "/database", true);
  SharedMemory control_memory(dir + "/control", sizeof(RunControl), true);
  auto& control = *static_cast<RunControl*>(control_memory.data());

  auto cache = make_built_tiered(rig.at.data_port, rig.at.key_namespace, settings);
  Peer peer({std::to_string(rig.at.data_port), rig.at.key_namespace, dir + "/database",
             dir + "/control", std::to_string(keys)});
  INFO("the peer process (" << TTLCACHE_CHAOS_PEER << ") did not start its workload in 30 s");
  REQUIRE(wait_flag(control.ready, 30s));

  Workload w(db);
  w.add_reader(cache, 81);
  w.add_writer(cache, 82, 20ms, true);
  std::this_thread::sleep_for(1s);
  control.phase.store(fault);
  w.set_phase(fault);
  rig.server.kill_hard();
  std::this_thread::sleep_for(2s);
  rig.server.restart();
  control.phase.store(after);
  w.set_phase(after);
  const double recovery = wait_for([&] { return l2_closed(cache); }, 10s);
  std::this_thread::sleep_for(1s);
  w.stop();
  control.stop.store(1);
  INFO("the peer process did not stop its writers in 30 s");
  REQUIRE(wait_flag(control.peer_stopped, 30s));
  // Both processes' writers are done: every key must now read as the database says, here and
  // there (nothing lost, no L1 copy left behind).
  std::string converge_detail;
  const double converged = converge(cache, db, 10s, &converge_detail);
  REQUIRE(peer.wait_exit(30s) == 0);
  REQUIRE(control.done.load() == 1);
  const PeerReport& r = control.report;

  print_figures("two processes, kill+restart (this process)", w, recovery,
                static_cast<double>(settings.call_budget.count()),
                "; converged " + std::to_string(static_cast<long long>(converged)) + " ms (" +
                    converge_detail + ")");
  std::printf(
      "chaos two processes, kill+restart (peer): exceptions %llu/%llu/%llu; hit rate %.3f "
      "before, %.3f during the fault, %.3f after; stale reads %llu, worst staleness %.0f ms; max "
      "call time during the fault %.1f ms; converged %.0f ms (%s)\n",
      static_cast<unsigned long long>(r.exceptions[0]),
      static_cast<unsigned long long>(r.exceptions[1]),
      static_cast<unsigned long long>(r.exceptions[2]), r.hit_rate[0], r.hit_rate[1], r.hit_rate[2],
      static_cast<unsigned long long>(r.stale_reads), r.worst_staleness_ms, r.max_fault_ms,
      r.converged_ms, r.converge_detail);
  std::fflush(stdout);

  // Four workers in two processes on two loaded cores: the probe that closes the breaker can
  // wait for the CPU (3.8 s seen under a parallel build), so the bound here is wider.
  check_tiered_contract(w, recovery, settings, 8000);
  INFO("the peer's first exception: " << r.first_exception);
  CHECK(r.exceptions[0] + r.exceptions[1] + r.exceptions[2] == 0);
  CHECK(r.calls[1] > 100);
  CHECK(r.hit_rate[1] >= 0.5 * r.hit_rate[0]);
  CHECK(r.worst_staleness_ms <= static_cast<double>(settings.l1_max_ttl.count()));
  CHECK(r.max_fault_ms <= static_cast<double>(settings.call_budget.count()) + max_call_slack_ms);
  // Once the writers stop, each process answers the database's version for every key within
  // the staleness bound (an L1 copy whose invalidation was lost lives at most l1_max_ttl).
  const double converge_bound = static_cast<double>(settings.l1_max_ttl.count()) + 1000;
  INFO("this process's convergence: " << converge_detail);
  INFO("the peer's convergence: " << r.converge_detail);
  CHECK(converged >= 0);
  CHECK(converged <= converge_bound);
  CHECK(r.converged_ms >= 0);
  CHECK(r.converged_ms <= converge_bound);
}

// Redis store under trouble: pool exhaustion, slow server, dead connections, a server restart.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "redis_test_support.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/redis.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ttlcache::redis::RedisStore;
using ttlcache_test::options_for;
using ttlcache_test::OwnServer;
using ttlcache_test::RawClient;
using ttlcache_test::shared_server;
using ttlcache_test::unique_namespace;

namespace {

// Ids of the server's clients whose name is `name`, from CLIENT LIST.
std::vector<std::string> client_ids(RawClient& raw, const std::string& name) {
  std::vector<std::string> ids;
  std::istringstream lines(raw.string_reply({"CLIENT", "LIST"}));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find(" name=" + name + " ") == std::string::npos) continue;
    const auto id = line.find("id=");
    ids.push_back(line.substr(id + 3, line.find(' ', id) - id - 3));
  }
  return ids;
}

void kill_clients(RawClient& raw, const std::string& name) {
  for (const auto& id : client_ids(raw, name)) raw.command({"CLIENT", "KILL", "ID", id});
}

// A loopback listener that never accepts, with its accept queue filled by connects of its own:
// the kernel drops further SYNs, so a client's connect neither succeeds nor is refused.
class FullListener {
 public:
  FullListener() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener_, 0) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    // Backlog 0 still queues one connection; a few more make sure the queue is full.
    for (int i = 0; i < 4; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      REQUIRE(fd >= 0);
      (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);  // EINPROGRESS
      fillers_.push_back(fd);
    }
    std::this_thread::sleep_for(50ms);  // let the handshakes that can complete complete
  }
  ~FullListener() {
    for (const int fd : fillers_) ::close(fd);
    ::close(listener_);
  }
  FullListener(const FullListener&) = delete;
  FullListener& operator=(const FullListener&) = delete;
  int port() const { return port_; }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;
};

}  // namespace

TEST_CASE("an exhausted pool makes callers wait, then fail with timeout_error", "[redis]") {
  OwnServer server;
  auto options = options_for(server.info(), unique_namespace("pool"));
  options.pool_size = 1;
  options.pool_wait_timeout = 150ms;
  options.command_timeout = 5s;
  RedisStore store(options);
  store.set("k", "v", 1min);

  // CLIENT PAUSE holds the only connection's GET at the server for a while.
  RawClient raw(server.port());
  raw.command({"CLIENT", "PAUSE", "1500", "ALL"});
  auto holder = std::async(std::launch::async, [&] { return store.get("k"); });
  std::this_thread::sleep_for(200ms);  // let the holder take the connection

  const auto start = Clock::now();
  try {
    store.get("other");
    FAIL("no timeout_error");
  } catch (const ttlcache::timeout_error& e) {
    const auto waited = Clock::now() - start;
    CHECK(waited >= 140ms);
    CHECK(waited < 1000ms);  // gave up long before the pause ended
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("GET of key \"other\""));
    CHECK_THAT(what, Catch::Contains("pool_wait_timeout"));
  }
  CHECK(holder.get() == std::optional<std::string>("v"));  // the holder finished normally
  CHECK(store.get("k") == std::optional<std::string>("v"));
  const auto stats = store.stats();
  CHECK(stats.pool_timeouts == 1);
  CHECK(stats.open_connections == 1);
}

TEST_CASE("a reply later than command_timeout is a timeout_error and the connection is replaced",
          "[redis]") {
  OwnServer server;
  auto options = options_for(server.info(), unique_namespace("slow"));
  options.command_timeout = 200ms;
  RedisStore store(options);
  store.set("k", "v", 1min);

  RawClient raw(server.port());
  raw.command({"CLIENT", "PAUSE", "800", "ALL"});
  try {
    store.get("k");
    FAIL("no timeout_error");
  } catch (const ttlcache::timeout_error& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("GET of key \"k\""));
    CHECK_THAT(what, Catch::Contains("no reply within 200 ms"));
  }
  CHECK(store.stats().discarded == 1);
  std::this_thread::sleep_for(800ms);
  // The late reply went away with the old connection; a fresh one answers correctly.
  CHECK(store.get("k") == std::optional<std::string>("v"));
  CHECK(store.stats().open_connections == 1);
}

TEST_CASE("a killed idle connection is found by the health check and never handed out", "[redis]") {
  const auto& server = shared_server();
  RawClient raw(server.port);
  const std::string name = "hc-" + unique_namespace("hc");

  auto options = options_for(server, unique_namespace("health"));
  options.client_name = name;
  options.health_check_after = 1ms;
  RedisStore checked(options);
  checked.set("k", "v", 1min);
  REQUIRE(client_ids(raw, name).size() == 1);
  kill_clients(raw, name);
  std::this_thread::sleep_for(20ms);
  // PING finds the dead connection first: the caller never sees it.
  CHECK(checked.get("k") == std::optional<std::string>("v"));
  CHECK(checked.stats().discarded == 1);

  // Without a health check the first call on the dead connection fails, and only that one.
  const std::string name2 = name + "-nocheck";
  options.client_name = name2;
  options.health_check_after = std::chrono::hours(1);
  RedisStore unchecked(options);
  unchecked.get("k");
  kill_clients(raw, name2);
  std::this_thread::sleep_for(20ms);
  CHECK_THROWS_AS(unchecked.get("k"), ttlcache::connection_error);
  CHECK(unchecked.get("k") == std::optional<std::string>("v"));
  CHECK(unchecked.stats().discarded == 1);
}

TEST_CASE("a server killed and restarted mid-workload: clear errors, then recovery", "[redis]") {
  OwnServer server;
  auto options = options_for(server.info(), unique_namespace("restart"));
  options.pool_size = 4;
  options.connect_timeout = 500ms;
  options.command_timeout = 500ms;
  options.reconnect_backoff_initial = 20ms;
  options.reconnect_backoff_max = 200ms;
  RedisStore store(options);

  std::atomic<bool> stop{false};
  std::atomic<bool> server_down{false};
  std::atomic<long> ok_before{0}, ok_after{0}, connection_errors{0}, timeouts{0}, other_errors{0};
  std::mutex messages_mutex;
  std::vector<std::string> messages;
  std::vector<std::thread> workers;
  for (int t = 0; t < 3; ++t) {
    workers.emplace_back([&, t] {
      for (long i = 0; !stop.load(); ++i) {
        const std::string key = "w" + std::to_string(t) + ":" + std::to_string(i % 50);
        // Sampled before the calls: a call that started before the kill may finish after it.
        const bool started_after_kill = server_down.load();
        try {
          store.set(key, "value", 1min);
          const auto got = store.get(key);
          if (got != std::optional<std::string>("value")) ++other_errors;
          (started_after_kill ? ok_after : ok_before)++;
        } catch (const ttlcache::connection_error& e) {
          ++connection_errors;
          std::lock_guard<std::mutex> lock(messages_mutex);
          if (messages.size() < 20) messages.emplace_back(e.what());
        } catch (const ttlcache::timeout_error& e) {
          // A connect or command that hits its 500 ms limit on a loaded machine: just as clear
          // and just as expected, but not what a dead server mostly looks like.
          ++timeouts;
          std::lock_guard<std::mutex> lock(messages_mutex);
          if (messages.size() < 20) messages.emplace_back(e.what());
        } catch (const std::exception& e) {
          // Any other backend_error (an error reply) is wrong here.
          ++other_errors;
          std::lock_guard<std::mutex> lock(messages_mutex);
          messages.emplace_back(std::string("unexpected: ") + e.what());
        }
        std::this_thread::sleep_for(1ms);
      }
    });
  }

  std::this_thread::sleep_for(300ms);
  CHECK(ok_before.load() > 0);
  server.kill_hard();
  server_down = true;
  std::this_thread::sleep_for(500ms);
  // A dead server must show as connection_error (refused or lost), not only as timeouts.
  INFO("connection errors " << connection_errors.load() << ", timeouts " << timeouts.load());
  CHECK(connection_errors.load() > 0);
  CHECK(ok_after.load() == 0);

  server.restart();  // same port, empty data
  const auto deadline = Clock::now() + 5s;
  while (ok_after.load() < 50 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  stop = true;
  for (auto& w : workers) w.join();

  CHECK(ok_after.load() >= 50);  // recovered by itself, no intervention
  CHECK(other_errors.load() == 0);
  {
    std::lock_guard<std::mutex> lock(messages_mutex);
    REQUIRE_FALSE(messages.empty());
    for (const auto& m : messages) {
      INFO(m);
      CHECK_THAT(m, Catch::StartsWith("ttlcache redis backend: "));
      CHECK_THAT(m, Catch::Contains("127.0.0.1:" + std::to_string(server.port())));
      CHECK_THAT(m, Catch::Contains(" of key \"w"));
    }
  }
  const auto stats = store.stats();
  CHECK(stats.connect_failures > 0);
  CHECK(stats.discarded > 0);
  CHECK(stats.open_connections <= 4);
  store.set("after", "v", 1min);
  CHECK(store.get("after") == std::optional<std::string>("v"));
}

TEST_CASE("a connect that gets no answer fails with timeout_error after connect_timeout",
          "[redis]") {
  FullListener silent;
  auto options = options_for(shared_server(), unique_namespace("connect-timeout"));
  options.port = silent.port();
  options.connect_on_start = false;
  options.connect_timeout = 300ms;
  RedisStore store(options);

  const auto start = Clock::now();
  try {
    store.get("k");
    FAIL("no timeout_error");
  } catch (const ttlcache::timeout_error& e) {
    const auto waited = Clock::now() - start;
    CHECK(waited >= 280ms);
    CHECK(waited < 900ms);  // bounded by connect_timeout, not the kernel's SYN retries
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("GET of key \"k\""));
    CHECK_THAT(what, Catch::Contains("127.0.0.1:" + std::to_string(silent.port())));
    CHECK_THAT(what, Catch::Contains("no answer within 300 ms (connect_timeout)"));
  }
  CHECK(store.stats().connect_failures == 1);
}

TEST_CASE("reconnect attempts back off exponentially up to reconnect_backoff_max", "[redis]") {
  auto options = options_for(shared_server(), unique_namespace("backoff"));
  options.port = 1;  // nothing listens there: each connect attempt is refused at once
  options.connect_on_start = false;
  options.reconnect_backoff_initial = 50ms;
  options.reconnect_backoff_max = 200ms;
  RedisStore store(options);

  // Retry as fast as a busy caller would for 1.5 s and note when a real connect was attempted
  // (connect_failures went up); calls inside the backoff window fail without one.
  std::vector<Clock::time_point> attempts;
  const auto start = Clock::now();
  while (Clock::now() - start < 1500ms) {
    const auto before = store.stats().connect_failures;
    const auto called = Clock::now();
    CHECK_THROWS_AS(store.get("k"), ttlcache::connection_error);
    if (store.stats().connect_failures > before) attempts.push_back(called);
    std::this_thread::sleep_for(2ms);
  }

  // Waits of 50, 100, then 200 ms (+ up to 25 % jitter each): about 8 attempts in 1.5 s.
  // Without backoff there would be hundreds, without doubling (50 ms each) about 25, and
  // without the cap (400, 800 ms ...) about 5 with gaps far above 200 ms.
  INFO("attempts: " << attempts.size());
  CHECK(attempts.size() >= 5);
  CHECK(attempts.size() <= 12);
  REQUIRE(attempts.size() >= 5);
  std::vector<long long> gaps;
  for (std::size_t i = 1; i < attempts.size(); ++i) {
    gaps.push_back(
        std::chrono::duration_cast<std::chrono::milliseconds>(attempts[i] - attempts[i - 1])
            .count());
  }
  for (std::size_t i = 0; i < gaps.size(); ++i) {
    INFO("gap " << i << ": " << gaps[i] << " ms");
    // The backoff is a lower bound (a loaded machine only makes gaps longer); 20 ms slack for
    // the time between noting a call and its connect attempt.
    const long long expected = i == 0 ? 50 : i == 1 ? 100 : 200;
    CHECK(gaps[i] >= expected - 20);
  }
  // Medians, so that one late wake-up on a loaded machine cannot decide the outcome.
  std::vector<long long> capped(gaps.begin() + 2, gaps.end());
  std::sort(capped.begin(), capped.end());
  const long long capped_median = capped[capped.size() / 2];
  INFO("median of the capped gaps: " << capped_median << " ms");
  CHECK(capped_median < 350);  // the cap holds (a further doubling would give 400+)
  // Doubling: the first two waits (about 50 + 100 ms) together are shorter than two capped ones.
  CHECK(gaps[0] + gaps[1] < 2 * capped_median);
}

// TLS against real servers (tls_fixture.sh): round trip, pool, bus, lock, Sentinel, Cluster, mTLS.
// SPDX-License-Identifier: MIT
// No ';' in test names: catch_discover_tests splits the name there.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls_test_support.hpp"
#include "ttlcache/builder.hpp"
#include "ttlcache/deadline.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/redis.hpp"

using namespace std::chrono_literals;
using ttlcache::redis::RedisOptions;
using ttlcache::redis::RedisStore;

namespace {

using ttlcache_test::tls::tls_options;
using ttlcache_test::tls::tls_servers;
using ttlcache_test::tls::unique_namespace;

/// The message of the error a fresh store's first connection throws (connect_on_start).
template <class Error>
std::string refusal(const RedisOptions& options) {
  try {
    RedisStore store(options);
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("the connection was accepted: " << options.describe());
  return {};
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

/// A loopback TCP port that accepts connections (the kernel's backlog) but never answers.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      throw std::runtime_error("cannot open a silent loopback listener");
    }
    port_ = ntohs(address.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

/// redis-cli over TLS to a fixture port, as a separate process (a client that is not ttlcache):
/// its standard output and error without the final newline. Arguments are plain words.
std::string tls_cli(int port, const std::string& args) {
  const std::string command = "redis-cli --tls --cacert '" + tls_servers()["ca_file"] +
                              "' -h 127.0.0.1 -p " + std::to_string(port) + " " + args + " 2>&1";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run: " + command);
  std::string out;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  ::pclose(pipe);  // an error reply makes redis-cli exit 1: the callers judge the text
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

/// The ports of the TLS cluster's three masters (tls.info: cluster_ports).
std::vector<int> tls_cluster_ports() {
  std::istringstream in(tls_servers()["cluster_ports"]);
  std::vector<int> ports;
  int port = 0;
  while (in >> port) ports.push_back(port);
  return ports;
}

/// The master that owns full_key's slot: a node that does not answers GET with MOVED.
int tls_cluster_owner(const std::string& full_key) {
  const std::vector<int> ports = tls_cluster_ports();
  const std::string answer = tls_cli(ports.front(), "GET " + full_key);
  if (answer.rfind("MOVED ", 0) != 0) return ports.front();
  return std::stoi(answer.substr(answer.rfind(':') + 1));  // "MOVED <slot> 127.0.0.1:<port>"
}

/// Hands an empty slot to another master as an operator would (IMPORTING, MIGRATING, then
/// SETSLOT NODE on every master), so every node agrees at once.
void move_empty_slot(const std::string& slot, int from, int to) {
  const std::string from_id = tls_cli(from, "CLUSTER MYID");
  const std::string to_id = tls_cli(to, "CLUSTER MYID");
  REQUIRE(tls_cli(to, "CLUSTER SETSLOT " + slot + " IMPORTING " + from_id) == "OK");
  REQUIRE(tls_cli(from, "CLUSTER SETSLOT " + slot + " MIGRATING " + to_id) == "OK");
  for (int port : tls_cluster_ports()) {
    REQUIRE(tls_cli(port, "CLUSTER SETSLOT " + slot + " NODE " + to_id) == "OK");
  }
}

}  // namespace

// ---- options (no server needed, but they run with the others) ----

TEST_CASE("TLS options: rediss URLs set tls and keep the other TLS fields", "[redis][tls]") {
  RedisOptions options;
  options.tls_ca_file = "/etc/ssl/certs/ca-certificates.crt";
  options.apply_url("rediss://app:secret@cache.example.com:6380/2");
  CHECK(options.tls);
  CHECK(options.host == "cache.example.com");
  CHECK(options.port == 6380);
  CHECK(options.db == 2);
  CHECK(options.tls_ca_file == "/etc/ssl/certs/ca-certificates.crt");
  CHECK(options.describe().rfind("rediss://app:***@cache.example.com:6380/2", 0) == 0);
  CHECK(options.describe().find("secret") == std::string::npos);

  options.apply_url("redis://cache.example.com");
  CHECK_FALSE(options.tls);

  const auto cluster = RedisOptions::from_url("rediss+cluster://10.0.0.1:7000,10.0.0.2:7000");
  CHECK(cluster.tls);
  CHECK(cluster.topology == ttlcache::redis::Topology::cluster);
  CHECK(cluster.describe().rfind("rediss+cluster://10.0.0.1:7000,10.0.0.2:7000", 0) == 0);
  const auto sentinel = RedisOptions::from_url("rediss+sentinel://10.0.0.1:26379/mymaster");
  CHECK(sentinel.tls);
  CHECK(sentinel.sentinel_master == "mymaster");
  CHECK_THROWS_AS(RedisOptions::from_url("rediss+unix:///tmp/redis.sock"), ttlcache::config_error);
}

TEST_CASE("TLS options: turning verification off is loud in describe()", "[redis][tls]") {
  auto options = RedisOptions::from_url("rediss://10.0.0.5:6380");
  CHECK(options.describe().find("TLS-UNVERIFIED") == std::string::npos);
  CHECK(options.describe().find("tls_ca=system") != std::string::npos);
  options.tls_verify = false;
  CHECK(options.describe().find("TLS-UNVERIFIED (insecure") != std::string::npos);
}

TEST_CASE("TLS options: validate refuses half or forgotten TLS settings", "[redis][tls]") {
  auto tls = RedisOptions::from_url("rediss://127.0.0.1:6380");
  tls.validate();
  auto expect_field = [](const RedisOptions& o, const std::string& field) {
    try {
      o.validate();
      FAIL("validate() accepted the options, expected an error on " << field);
    } catch (const ttlcache::config_error& e) {
      CHECK(e.path() == field);
    }
  };
  auto half = tls;
  half.tls_cert_file = tls_servers()["client_cert"];
  expect_field(half, "tls_key_file");
  auto missing = tls;
  missing.tls_ca_file = "/nonexistent/ca.pem";
  expect_field(missing, "tls_ca_file");
  auto over_unix = tls;
  over_unix.unix_socket = "/run/redis/redis.sock";
  expect_field(over_unix, "tls");
  auto forgotten = RedisOptions::from_url("redis://127.0.0.1:6379");
  forgotten.tls_ca_file = tls_servers()["ca_file"];
  expect_field(forgotten, "tls_ca_file");
}

// ---- a verified server ----

TEST_CASE("TLS: a store round trip over rediss, and the TLS-only port refuses plain TCP",
          "[redis][tls]") {
  const auto options = tls_options("good", "roundtrip");
  RedisStore store(options);
  store.set("greeting", std::string("hello\0tls", 9), 10s);
  CHECK(store.get("greeting") == std::string("hello\0tls", 9));
  // A value larger than one TLS record (16 KiB) crosses several records both ways.
  const std::string big(200 * 1024, 'x');
  store.set("big", big, 10s);
  CHECK(store.get("big") == big);
  const auto many = store.get_many({"greeting", "absent", "big"});
  REQUIRE(many.size() == 3);
  CHECK(many[0] == std::string("hello\0tls", 9));
  CHECK_FALSE(many[1].has_value());
  CHECK(many[2] == big);
  CHECK(store.erase("greeting"));

  RedisOptions plain = options;
  plain.tls = false;
  plain.tls_ca_file.clear();
  plain.connect_timeout = 500ms;
  plain.command_timeout = 500ms;
  // The server speaks only TLS: a plain client gets no answer to its PING (or a reset).
  try {
    RedisStore in_the_clear(plain);
    FAIL("a plain-TCP client got an answer from a TLS-only port");
  } catch (const ttlcache::backend_error&) {
  }
}

TEST_CASE("TLS: the host name is checked too (localhost, tls_server_name, tls_ca_dir)",
          "[redis][tls]") {
  auto by_name = tls_options("good", "names");
  by_name.host = "localhost";  // the certificate names DNS:localhost besides 127.0.0.1
  RedisStore(by_name).ping();

  auto by_dir = tls_options("good", "names");
  by_dir.tls_ca_file.clear();
  by_dir.tls_ca_dir = tls_servers()["ca_dir"];
  RedisStore(by_dir).ping();

  // The wrong-host server's certificate is fine for the name it was issued for.
  auto named = tls_options("wrong_host", "names");
  named.tls_server_name = "wrong.example.com";
  RedisStore(named).ping();
}

TEST_CASE("TLS: the pub/sub bus delivers messages between two instances", "[redis][tls]") {
  ttlcache::redis::PubSubOptions bus_options;
  bus_options.redis = tls_options("good", "bus");
  bus_options.channel = unique_namespace("channel");
  ttlcache::redis::PubSubBus sender(bus_options);
  ttlcache::redis::PubSubBus receiver(bus_options);
  std::mutex mutex;
  std::vector<std::string> subjects;
  receiver.subscribe(
      [&](const ttlcache::InvalidationMessage& m) {
        std::lock_guard<std::mutex> lock(mutex);
        subjects.push_back(m.subject);
      },
      [] {});
  REQUIRE(receiver.wait_until_subscribed(10s));
  ttlcache::InvalidationMessage message;
  message.kind = ttlcache::InvalidationMessage::Kind::key;
  message.scope = "s";
  message.subject = "user:42";
  sender.publish(message);
  CHECK(sender.stats().published == 1);
  const bool arrived = eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return !subjects.empty();
  });
  REQUIRE(arrived);
  std::lock_guard<std::mutex> lock(mutex);
  CHECK(subjects.front() == "user:42");
}

TEST_CASE("TLS: a lock is exclusive over TLS", "[redis][tls]") {
  ttlcache::redis::RedisLockService locks(tls_options("good", "lock"));
  auto first = locks.try_acquire("report", 10s);
  REQUIRE(first.has_value());
  CHECK_FALSE(locks.try_acquire("report", 10s).has_value());
  CHECK(first->release());
  CHECK(locks.try_acquire("report", 10s).has_value());
}

TEST_CASE("TLS: Sentinel and its master both over TLS (rediss+sentinel)", "[redis][tls]") {
  auto options = RedisOptions::from_url(
      "rediss+sentinel://127.0.0.1:" + std::to_string(tls_servers().port("sentinel")) +
      "/mymaster");
  options.tls_ca_file = tls_servers()["ca_file"];
  options.key_namespace = unique_namespace("sentinel");
  RedisStore store(options);
  store.set("k", "v", 10s);
  CHECK(store.get("k") == std::string("v"));
  CHECK(store.stats().topology_refreshes >= 1);
}

TEST_CASE("TLS: Redis Cluster over TLS through CacheBuilder (rediss+cluster), MOVED followed",
          "[redis][tls][cluster]") {
  const std::vector<int> ports = tls_cluster_ports();
  REQUIRE(ports.size() == 3);
  // Two seeds: the third master is learnt from CLUSTER SLOTS, over TLS like the others.
  auto options = RedisOptions::from_url("rediss+cluster://127.0.0.1:" + std::to_string(ports[0]) +
                                        ",127.0.0.1:" + std::to_string(ports[1]));
  REQUIRE(options.tls);
  options.tls_ca_file = tls_servers()["ca_file"];
  options.key_namespace = unique_namespace("cluster");
  options.connect_timeout = 3s;
  options.command_timeout = 3s;
  const std::string& ns = options.key_namespace;
  auto cache =
      ttlcache::CacheBuilder<std::string, std::string>("tls-cluster").redis(options).build();

  // 60 keys hash over the whole slot range, so every master holds some of them.
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) {
    keys.push_back("k" + std::to_string(i));
    cache.set(keys.back(), "v" + std::to_string(i), 1min);
  }
  for (int i = 0; i < 60; ++i) CHECK(cache.get(keys[i]) == "v" + std::to_string(i));
  std::size_t stored = 0;
  for (int port : ports) {
    // What each master holds, asked by a client that is not ttlcache.
    const std::string held = tls_cli(port, "--scan --pattern '" + ns + ":*'");
    const auto count = static_cast<std::size_t>(std::count(held.begin(), held.end(), '\n') +
                                                (held.empty() ? 0 : 1));
    INFO("master on TLS port " << port << " holds: " << held);
    CHECK(count > 0);
    stored += count;
  }
  CHECK(stored == keys.size());

  // One batch across the three masters (a pipeline per node), answers in the caller's order.
  std::vector<std::string> batch = keys;
  batch.insert(batch.begin() + 30, "absent");
  const auto many = cache.get_many(batch);
  REQUIRE(many.size() == batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    INFO("batch item " << i << " key " << batch[i]);
    if (batch[i] == "absent") {
      CHECK_FALSE(many[i].has_value());
    } else {
      CHECK(many[i] == "v" + batch[i].substr(1));
    }
  }

  // MOVED: a slot with no keys changes hands after the cache learnt the map; the next write
  // and read of a key in it reach the old owner, are told MOVED, and follow to the new one.
  std::string moved_key;
  std::string slot;
  int from = 0;
  for (int i = 0; moved_key.empty() && i < 200; ++i) {
    const std::string candidate = "moved" + std::to_string(i);
    const std::string full = ns + ":" + candidate;
    const std::string candidate_slot = tls_cli(ports[0], "CLUSTER KEYSLOT " + full);
    const int owner = tls_cluster_owner(full);
    if (tls_cli(owner, "CLUSTER COUNTKEYSINSLOT " + candidate_slot) == "0") {
      moved_key = candidate;
      slot = candidate_slot;
      from = owner;
    }
  }
  REQUIRE_FALSE(moved_key.empty());
  const int to = from == ports[0] ? ports[1] : ports[0];
  move_empty_slot(slot, from, to);
  const std::string full = ns + ":" + moved_key;
  REQUIRE(tls_cluster_owner(full) == to);

  cache.set(moved_key, "after the move", 1min);
  CHECK(cache.get(moved_key) == std::optional<std::string>("after the move"));
  // It landed on the new owner; the old one now redirects.
  CHECK(tls_cli(to, "STRLEN " + full) != "0");
  CHECK(tls_cli(from, "GET " + full).rfind("MOVED ", 0) == 0);
  CHECK(cache.get_many({moved_key, keys[0]})[0] == std::optional<std::string>("after the move"));

  // Hand the slot back (empty again), so a repeated run finds the cluster as it was.
  CHECK(cache.erase(moved_key));
  move_empty_slot(slot, to, from);
  CHECK_FALSE(cache.get(moved_key).has_value());
  for (const auto& key : keys) cache.erase(key);
}

// ---- refused servers ----

TEST_CASE("TLS: a certificate from another CA is refused with a clear connection_error",
          "[redis][tls]") {
  auto options = tls_options("other_ca", "refused");
  options.password = "pw-never-shown";
  const std::string what = refusal<ttlcache::connection_error>(options);
  CHECK_THAT(what, Catch::Contains("certificate was refused"));
  CHECK_THAT(what, Catch::Contains("unable to get local issuer certificate"));
  CHECK_THAT(what, Catch::Contains("tls_ca_file"));
  CHECK_THAT(what, Catch::Contains(std::to_string(tls_servers().port("other_ca"))));
  CHECK(what.find("pw-never-shown") == std::string::npos);

  // Verification off: accepted, encrypted but unauthenticated.
  options.tls_verify = false;
  options.password.clear();
  RedisStore(options).ping();
}

TEST_CASE("TLS: an expired certificate is refused with a clear connection_error", "[redis][tls]") {
  const std::string what = refusal<ttlcache::connection_error>(tls_options("expired", "refused"));
  CHECK_THAT(what, Catch::Contains("certificate has expired"));
}

TEST_CASE("TLS: a certificate for another host name is refused with a clear connection_error",
          "[redis][tls]") {
  auto options = tls_options("wrong_host", "refused");
  std::string what = refusal<ttlcache::connection_error>(options);
  CHECK_THAT(what, Catch::Contains("IP address mismatch"));
  CHECK_THAT(what, Catch::Contains("not issued for '127.0.0.1'"));
  options.host = "localhost";
  what = refusal<ttlcache::connection_error>(options);
  CHECK_THAT(what, Catch::Contains("hostname mismatch"));
  CHECK_THAT(what, Catch::Contains("not issued for 'localhost'"));
}

// ---- mutual TLS ----

TEST_CASE("TLS: mutual TLS accepts the right client certificate and refuses none or another",
          "[redis][tls]") {
  auto with_cert = tls_options("mtls", "mtls");
  with_cert.tls_cert_file = tls_servers()["client_cert"];
  with_cert.tls_key_file = tls_servers()["client_key"];
  RedisStore store(with_cert);
  store.set("k", "v", 10s);
  CHECK(store.get("k") == std::string("v"));

  // TLS 1.3 refuses a client certificate after the handshake: the alert ("certificate
  // required", "unknown ca") or, when the server's close resets the socket first, a reset.
  // Both messages must point at the client certificate.
  const std::string without = refusal<ttlcache::connection_error>(tls_options("mtls", "mtls"));
  CHECK_THAT(without, Catch::Contains("client certificate"));
  CHECK_THAT(without, Catch::Contains("tls_cert_file"));

  auto foreign = tls_options("mtls", "mtls");
  foreign.tls_cert_file = tls_servers()["other_client_cert"];
  foreign.tls_key_file = tls_servers()["other_client_key"];
  const std::string other = refusal<ttlcache::connection_error>(foreign);
  CHECK_THAT(other, Catch::Contains("client certificate"));
}

// ---- time budgets ----

TEST_CASE("TLS: a silent server times out the handshake within connect_timeout", "[redis][tls]") {
  SilentServer silent;
  auto options = tls_options("good", "silent");
  options.port = silent.port();
  options.connect_timeout = 200ms;
  const auto started = std::chrono::steady_clock::now();
  const std::string what = refusal<ttlcache::timeout_error>(options);
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  CHECK_THAT(what, Catch::Contains("TLS handshake: no answer within 200 ms (connect_timeout)"));
}

TEST_CASE("TLS: every wait honours the call's deadline and names the budget", "[redis][tls]") {
  SilentServer silent;
  auto options = tls_options("good", "deadline");
  options.tls = false;
  options.tls_ca_file.clear();
  options.port = silent.port();
  {
    // The connection is accepted by the kernel; the PING of the handshake never gets a reply.
    // Without the deadline the wait would last command_timeout (3 s). On a loaded machine the
    // budget may be gone before the wait starts ("spent") or run out during it ("remaining
    // time budget of N ms"): both name the budget.
    ttlcache::DeadlineScope scope(300ms);
    const auto started = std::chrono::steady_clock::now();
    const std::string what = refusal<ttlcache::timeout_error>(options);
    CHECK(std::chrono::steady_clock::now() - started < 2500ms);
    CHECK_THAT(what, Catch::Contains("the call's") && Catch::Contains("time budget"));
  }

  RedisStore store(tls_options("good", "deadline"));
  store.set("k", "v", 10s);
  {
    ttlcache::DeadlineScope scope(1ms);
    std::this_thread::sleep_for(5ms);
    try {
      (void)store.get("k");
      FAIL("a call past its deadline went ahead");
    } catch (const ttlcache::timeout_error& e) {
      CHECK_THAT(e.what(), Catch::Contains("time budget was spent"));
    }
  }
  CHECK(store.get("k") == std::string("v"));  // a fresh connection; nothing was lost
}

// Router: which server a key goes to (standalone, Redis Cluster slot map, or Sentinel master).
// SPDX-License-Identifier: MIT
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connection.hpp"
#include "pool.hpp"
#include "ttlcache/redis/options.hpp"

namespace ttlcache::redis::detail {

constexpr std::size_t cluster_slots = 16384;

/// CRC16/XMODEM (polynomial 0x1021, initial 0), as Redis Cluster uses for key slots.
std::uint16_t crc16(std::string_view data) noexcept;
/// The Redis Cluster hash slot of key: CRC16 of the first non-empty {hash tag} if any, else of
/// the whole key, modulo 16384.
std::uint16_t hash_slot(std::string_view key) noexcept;

/// One server and its connection pool. Nodes live as long as the router (shared_ptr), so a
/// caller holding one keeps it valid across topology changes.
struct Node {
  Node(const RedisOptions& base, const std::string& host, int port);
  RedisOptions options;  // base options with this node's address (the pool refers to it)
  std::string endpoint;  // "host:port", for messages and as the map key
  ConnectionPool pool;
};

/// A redirection in an error reply: "MOVED 3999 127.0.0.1:6381" or "ASK 3999 ...".
struct Redirect {
  enum class Kind { none, moved, ask };
  Kind kind = Kind::none;
  std::uint16_t slot = 0;
  std::string host;
  int port = 0;
};
Redirect parse_redirect(std::string_view error_text);

/// Error replies after which the topology is worth learning again: a replica answering (a
/// failover happened), a cluster between states.
bool topology_error(std::string_view error_text) noexcept;

/// A reply and the node that sent it (for messages).
struct Answer {
  Reply reply;
  std::shared_ptr<Node> node;
};

/// Where keys go, and how that is learned again after a failure. Thread-safe.
///
/// - standalone: one node, never changes.
/// - cluster: a slot map from CLUSTER SLOTS (asked of known masters, then the seeds), updated
///   slot by slot on MOVED and in full on refresh().
/// - sentinel: the master the Sentinels name (SENTINEL get-master-addr-by-name), asked again
///   on refresh().
class Router {
 public:
  /// options must outlive the router. Does no I/O.
  explicit Router(const RedisOptions& options);

  Topology topology() const noexcept { return options_.topology; }

  /// The node owning full_key (its master). Learns the topology first when it is not known
  /// yet; throws connection_error when it cannot be learned.
  std::shared_ptr<Node> node_for_key(std::string_view full_key);
  /// Every master (one for standalone and sentinel). Throws like node_for_key.
  std::vector<std::shared_ptr<Node>> masters();
  /// The node at host:port, created (with an empty pool) the first time it is named.
  std::shared_ptr<Node> node_at(const std::string& host, int port);
  /// Every node created so far (for statistics).
  std::vector<std::shared_ptr<Node>> all_nodes() const;

  /// Learns the topology again unless another attempt (successful or not) finished less than
  /// topology_refresh_interval ago (force: regardless). Waits for a refresh under way rather
  /// than start a second. Never throws for network problems: a failed attempt keeps the old
  /// topology and remembers why (node_for_key reports it when nothing is known at all).
  void refresh(bool force = false);
  /// After a failure of node while serving full_key: refresh, then whether the key now belongs
  /// to another node (worth a retry). Always false for standalone.
  bool changed_after_failure(const Node& node, std::string_view full_key);
  /// A MOVED reply: slot now lives at host:port. Updates that slot, then refreshes (rate-limited).
  void moved(std::uint16_t slot, const std::string& host, int port);

  /// Sends one single-key command to the node owning full_key; the reply is never null (error
  /// replies are returned, for the caller to judge). Follows MOVED (the slot map learns the new
  /// owner) and ASK (ASKING, once, on the named node); after a connection failure or a
  /// topology_error() reply learns the topology again and retries when the key now lives
  /// elsewhere. max_redirects bounds the retries; then the last error is thrown
  /// (connection_error / timeout_error naming op and node, backend_error for redirections).
  /// Every single-key caller (RedisStore, RedisLockService) goes through here.
  Answer run_key(std::string_view full_key, const Op& op, Args& args);
  Answer run_key(std::string_view full_key, const Op& op,
                 std::initializer_list<std::string_view> args);

  /// Refreshes done (successful ones), for tests and statistics.
  std::uint64_t refreshes() const noexcept;
  /// MOVED and ASK replies followed by run_key().
  std::uint64_t redirections() const noexcept;

 private:
  struct Layout {
    std::array<std::uint16_t, cluster_slots> owner{};  // index into masters, or no_owner
    std::vector<std::shared_ptr<Node>> masters;
  };
  static constexpr std::uint16_t no_owner = 0xffff;

  std::shared_ptr<const Layout> layout();
  std::shared_ptr<const Layout> load_cluster_layout(std::string& why);
  std::shared_ptr<const Layout> load_sentinel_layout(std::string& why);
  [[noreturn]] void throw_unknown(const std::string& why) const;
  template <class A>
  Answer run_key_with(std::string_view full_key, const Op& op, A& args);

  const RedisOptions& options_;
  mutable std::mutex mutex_;  // guards layout_ and nodes_
  std::shared_ptr<const Layout> layout_;
  std::map<std::string, std::shared_ptr<Node>> nodes_;

  std::mutex refresh_mutex_;  // one refresh at a time
  std::chrono::steady_clock::time_point last_refresh_{};
  std::string last_refresh_failure_;
  std::atomic<std::uint64_t> refreshes_{0};
  std::atomic<std::uint64_t> redirections_{0};
};

}  // namespace ttlcache::redis::detail

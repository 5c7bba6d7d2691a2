// RedisStore: the ByteStore on Redis (pooled hiredis connections behind a pimpl).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ttlcache/backend.hpp"
#include "ttlcache/byte_store.hpp"
#include "ttlcache/codec.hpp"
#include "ttlcache/codec_backend.hpp"
#include "ttlcache/redis/options.hpp"
#include "ttlcache/tags.hpp"

namespace ttlcache::redis {

/// Escapes the Redis glob characters `*`, `?`, `[`, `]` and `\` with a backslash, so that
/// text can be placed literally inside a SCAN MATCH pattern: a user id of "*" then matches
/// only itself. Every other byte (NUL included) passes through.
std::string glob_escape(std::string_view text);

/// Counters for metrics. Monotonic since construction, except the two connection gauges.
struct RedisStats {
  std::uint64_t corrupt_values = 0;      ///< reads whose bytes failed the header check (misses)
  std::uint64_t connects = 0;            ///< connections opened successfully
  std::uint64_t connect_failures = 0;    ///< connect, AUTH or SELECT attempts that failed
  std::uint64_t discarded = 0;           ///< broken connections dropped from the pool
  std::uint64_t pool_timeouts = 0;       ///< callers that gave up waiting for a connection
  std::size_t open_connections = 0;      ///< gauge: connections in use or idle
  std::size_t idle_connections = 0;      ///< gauge: connections waiting in the pool
  std::uint64_t topology_refreshes = 0;  ///< cluster slot maps / Sentinel answers learned
  std::uint64_t redirections = 0;        ///< cluster MOVED and ASK replies followed
};

/// A ByteStore on Redis (one server, a Redis Cluster, or a master found through Sentinel;
/// RedisOptions::topology), shared by every service instance that uses the same key_namespace.
///
/// - Cluster: each key goes to the master of its CRC16 hash slot ({hash tags} honoured), one
///   pool per node. MOVED updates the slot map, ASK is followed once with ASKING; a connection
///   failure or a CLUSTERDOWN/TRYAGAIN reply makes the store learn the map again (CLUSTER SLOTS,
///   at most every topology_refresh_interval) and retry when the key now lives elsewhere; at
///   most max_redirects retries per call. Batches (get_many, set_many, stamps) are single-key
///   commands grouped per node: one pipeline per node, the nodes in parallel, the answers in
///   the caller's order. clear(), erase_prefix() and size() SCAN every master. Stamps are keys
///   like any other, so a read does per-node lookups and never a cross-slot command.
/// - Sentinel: the master is the one the Sentinels name (SENTINEL get-master-addr-by-name),
///   asked again after a connection failure or a -READONLY reply; the call is then retried on
///   the new master. Calls during a failover throw (connection_error) until the Sentinels
///   have promoted a replica; later calls find it by themselves.
///
/// - Keys are stored as "<key_namespace>:<key>"; every command is sent in binary-safe argv
///   form, so keys and values may hold any bytes.
/// - set() is `SET k v PX ttl`; get_many() is MGET in chunks of batch_chunk keys, one
///   pipeline; set_many() one pipeline of SET PX (each entry keeps its own TTL); erase() is UNLINK;
///   clear(), erase_prefix() and size() walk the namespace with SCAN MATCH (never KEYS) and UNLINK
///   in batches.
/// - Values carry a small header (magic, format version, CRC-32C). Bytes under one of our keys
///   that fail the check (written by someone else, truncated, corrupted) read as a miss and
///   are counted in corrupt_values(); they are never returned and never crash. With
///   RedisOptions::value_format = plain, values are stored bare (other clients can read and
///   write them); the codec then judges every value (a foreign one it cannot decode is a
///   counted miss in CodecBackend::corrupt_values()).
/// - Limits (max_key_length, max_value_size) and TTLs are checked before anything is sent:
///   limit_error / argument_error, nothing changed.
/// - Failures: connection_error (unreachable, connection lost, AUTH refused), timeout_error
///   (no reply within command_timeout, or no free connection within pool_wait_timeout),
///   backend_error (an error reply). Messages name the command, the key and the server;
///   never credentials. After a lost connection later calls reconnect by themselves (with
///   capped exponential backoff between failed attempts).
///
/// - Tag and entity versions (StampStore): each name is a plain key
///   "<key_namespace>@stamp:<name>" holding a decimal version, always with a TTL (PX), outside
///   the data namespace (clear(), size() and erase_prefix() never see it). read_stamps() is one
///   MGET; acquire_stamps() one EVAL (create missing names with a random version, extend TTLs);
///   bump_stamps() one pipeline of SET PX. A name that is missing or not a number reads as
///   nullopt, so entries depending on it are misses.
///
/// Thread-safety: every member may be called concurrently; each call borrows one pooled
/// connection for its duration.
class RedisStore final : public ByteStore, public StampStore {
 public:
  /// Validates options and builds the pool; with connect_on_start opens one connection.
  /// Throws config_error, connection_error, timeout_error.
  explicit RedisStore(RedisOptions options);
  /// Shorthand for RedisStore(RedisOptions::from_url(url)) with key_namespace set.
  RedisStore(std::string_view url, std::string key_namespace);
  ~RedisStore() override;

  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  /// "redis".
  std::string_view name() const noexcept override;

  std::optional<std::string> get(std::string_view key) override;
  /// Throws argument_error for ttl <= 0, limit_error for an oversized key or value.
  void set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) override;
  bool erase(std::string_view key) override;
  bool contains(std::string_view key) override;
  /// Remaining PTTL; nullopt when absent, or for a key without expiry (not written by us).
  std::optional<std::chrono::milliseconds> ttl(std::string_view key) override;
  std::vector<std::optional<std::string>> get_many(const std::vector<std::string>& keys) override;
  /// Checks every entry first (TTL, limits): one bad entry and nothing is sent.
  void set_many(const std::vector<Write>& items) override;
  std::size_t erase_prefix(std::string_view literal_prefix) override;
  /// SCAN MATCH with the pattern rendered as a glob (glob_escape on every literal part) under
  /// this store's namespace, then UNLINK of each batch. Throws like erase_prefix.
  std::size_t erase_pattern(const KeyPattern& pattern) override;
  void clear() override;
  /// Keys of this namespace, counted with SCAN (O(keys); may include keys about to expire).
  std::size_t size() override;

  // ---- StampStore (tag and entity versions; see the class comment) ----
  std::vector<std::optional<std::uint64_t>> read_stamps(
      const std::vector<std::string>& names) override;
  std::vector<std::uint64_t> acquire_stamps(const std::vector<std::string>& names,
                                            std::chrono::milliseconds keep_alive) override;
  std::vector<std::uint64_t> bump_stamps(const std::vector<std::string>& names,
                                         std::chrono::milliseconds keep_alive) override;
  /// The Redis key holding a stamp name's version (for tests and redis-cli).
  std::string stamp_key(std::string_view name) const;

  /// Sends PING; throws like any other call when Redis cannot be reached. For readiness checks.
  void ping();
  /// `used_memory` from `INFO memory`: bytes Redis has allocated for the whole server (all
  /// namespaces). Throws like any other call.
  std::uint64_t used_memory();
  /// Reads so far whose bytes failed the value header check (served as misses).
  std::uint64_t corrupt_values() const noexcept override;
  RedisStats stats() const;
  /// The namespace this store was built with (without the ':' separator).
  const std::string& key_namespace() const noexcept;
  /// options().describe(): loggable, no password.
  std::string describe() const;
  /// The validated options this store was built with.
  const RedisOptions& options() const noexcept;

  /// Commands every pooled data connection runs once before its next use, pipelined (one
  /// round trip per connection); a new call replaces them and every connection runs the new
  /// set before its next use. For the near cache's CLIENT TRACKING (redis/tracking.hpp); an
  /// error reply is ignored (tried again on the next use). Standalone only: throws
  /// config_error for cluster and sentinel.
  void set_session_commands(std::vector<std::vector<std::string>> commands);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A typed Backend<K,V> on Redis: CodecBackend over a RedisStore built from options.
/// Reach the store (for corrupt_values(), used_memory()) through the returned object's
/// dynamic type CodecBackend<K,V>::store(). Throws like RedisStore's constructor.
template <class K, class V, class KC = KeyCodec<K>, class VC = ValueCodec<V>>
std::shared_ptr<Backend<K, V>> make_backend(RedisOptions options) {
  return std::make_shared<CodecBackend<K, V, KC, VC>>(
      std::make_shared<RedisStore>(std::move(options)));
}

/// A typed Backend<K,V> on an existing store (several typed views may share one store and pool).
template <class K, class V, class KC = KeyCodec<K>, class VC = ValueCodec<V>>
std::shared_ptr<Backend<K, V>> make_backend(std::shared_ptr<RedisStore> store) {
  return std::make_shared<CodecBackend<K, V, KC, VC>>(std::move(store));
}

}  // namespace ttlcache::redis

// RedisOptions: where the Redis store connects, how its pool behaves, and its limits.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ttlcache::redis {

/// How the Redis servers behind a store are arranged.
enum class Topology {
  standalone,  ///< one server (host/port or unix_socket)
  cluster,     ///< Redis Cluster: keys sharded over masters by hash slot; nodes are seeds
  sentinel,    ///< one master with replicas, found through the Sentinels listed in nodes
};

/// How values are laid out in Redis (see docs/redis.md, "Value formats").
enum class ValueFormat {
  /// A 5-9 byte header (magic, format version, optional CRC-32C) before the codec's bytes:
  /// corruption and foreign values are detected, formats can evolve.
  framed,
  /// The codec's bytes alone (JSON text, or raw bytes for strings), so that other services and
  /// redis-cli read and write the same keys. Reads still accept framed values (migration).
  plain,
};

/// A TCP address (IPv6 without brackets).
struct RedisEndpoint {
  std::string host;
  int port = 6379;
};

/// Everything a RedisStore needs. Plain data: fill in the fields, or start from a URL with
/// from_url() and adjust the rest. RedisStore validates the whole set when constructed
/// (config_error naming the field). Passwords are kept only to authenticate new connections
/// and never appear in messages; use describe() to log a configuration.
struct RedisOptions {
  // ---- where ----
  /// Host name or IP address (IPv6 without brackets). Ignored when unix_socket is set.
  std::string host = "127.0.0.1";
  int port = 6379;
  /// Path of a Unix domain socket; when non-empty it is used instead of host and port.
  std::string unix_socket;

  // ---- topology ----
  /// standalone uses host/port (or unix_socket). cluster and sentinel use nodes instead.
  Topology topology = Topology::standalone;
  /// cluster: seed nodes, any reachable one gives the slot map (CLUSTER SLOTS).
  /// sentinel: the Sentinels, asked in order for the current master's address.
  std::vector<RedisEndpoint> nodes;
  /// sentinel: the master's name in the Sentinels' configuration (SENTINEL monitor <name>).
  std::string sentinel_master;
  /// Redirections (MOVED, ASK) and failover retries one call follows before it gives up.
  int max_redirects = 5;
  /// Failures trigger a topology refresh (CLUSTER SLOTS, or asking the Sentinels) at most this
  /// often; calls in between wait for the refresh under way or use its result.
  std::chrono::milliseconds topology_refresh_interval{100};

  // ---- who ----
  /// ACL user name for `AUTH user password`; empty means `AUTH password` (the default user).
  std::string user;
  /// Empty: no AUTH is sent.
  std::string password;
  /// Database selected with SELECT on every new connection (0 needs no SELECT).
  int db = 0;
  /// Sent as CLIENT SETNAME so the connections are recognisable in CLIENT LIST (no spaces).
  std::string client_name;

  // ---- TLS ----
  /// Encrypt every connection (data, pool, pub/sub bus, locks, Sentinels, cluster nodes) with
  /// TLS. rediss:// (and rediss+cluster://, rediss+sentinel://) URLs set it.
  bool tls = false;
  /// PEM file of the CAs trusted to sign the server's certificate. With tls_ca_dir also empty,
  /// the system's trust store is used (the public CAs of managed services).
  std::string tls_ca_file;
  /// Folder of hashed CA certificates (`openssl rehash`), as an alternative or addition.
  std::string tls_ca_dir;
  /// Client certificate (PEM, may hold the chain) for servers that require mutual TLS
  /// (tls-auth-clients yes). Needs tls_key_file.
  std::string tls_cert_file;
  /// The client certificate's private key (unencrypted PEM).
  std::string tls_key_file;
  /// The name sent as SNI and checked against the server's certificate; empty: host (or each
  /// cluster node's address). Set it when the certificate names a host other than the one
  /// connected to, e.g. a cluster whose nodes are announced by IP address.
  std::string tls_server_name;
  /// Check the server's certificate chain and that it is issued for the host (or
  /// tls_server_name). false turns both checks off: the connection is encrypted but anyone on
  /// the path can impersonate the server. describe() then says "TLS-UNVERIFIED (insecure)".
  bool tls_verify = true;

  // ---- time ----
  std::chrono::milliseconds connect_timeout{1000};
  /// Limit for each reply (each read and write on the socket). A command that times out
  /// throws timeout_error and its connection is discarded: the late reply would desynchronise it.
  std::chrono::milliseconds command_timeout{1000};

  // ---- pool ----
  /// Maximum number of connections; each call holds one for its duration.
  std::size_t pool_size = 8;
  /// How long a call waits for a free connection before timeout_error.
  std::chrono::milliseconds pool_wait_timeout{1000};
  /// A connection idle for longer than this is checked with PING before it is handed out.
  std::chrono::milliseconds health_check_after{30000};
  /// After a failed connect, new connects are refused (fast connection_error) for a backoff
  /// that starts here and doubles per consecutive failure...
  std::chrono::milliseconds reconnect_backoff_initial{50};
  /// ...up to this cap.
  std::chrono::milliseconds reconnect_backoff_max{2000};
  /// Open one connection in the constructor, so bad addresses or credentials fail at start-up
  /// (connection_error/timeout_error). false: start even when Redis is down.
  bool connect_on_start = true;

  // ---- data ----
  /// Keys are stored as "<key_namespace>:<key>", so services can share one Redis; clear() and
  /// erase_prefix() touch only this namespace. Must not be empty.
  std::string key_namespace = "ttlcache";
  /// Longest key accepted (bytes, without the namespace); longer keys throw limit_error.
  std::size_t max_key_length = 1024;
  /// Largest value accepted (bytes, before the value header); larger values throw limit_error.
  std::size_t max_value_size = std::size_t{1} << 20;
  /// Store a CRC-32C of each value in its header, verified on every read (framed only).
  bool checksum = true;
  /// framed (the default) or plain: the value alone, readable by other clients.
  ValueFormat value_format = ValueFormat::framed;
  /// COUNT hint for the SCAN loops of clear(), erase_prefix() and size().
  std::size_t scan_count = 1000;
  /// Keys per MGET of get_many (the MGETs of one batch share one pipeline). In a cluster, also
  /// the commands sent to a node before its replies are read.
  std::size_t batch_chunk = 1000;

  /// Parses a URL into a RedisOptions with default values elsewhere:
  /// `redis://[[user]:password@]host[:port][/db]` (host may be `[ipv6]`), its TLS form
  /// `rediss://...` (sets tls; the other TLS fields keep their values), or
  /// `unix://[[user]:password@]/path/to/socket[?db=N]`,
  /// `redis+cluster://[[user]:password@]host1:port,host2:port` (seed nodes, database 0), or
  /// `redis+sentinel://[[user]:password@]s1:port,s2:port/master-name[/db]` (Sentinel port
  /// defaults to 26379; the credentials are for the master, the Sentinels get no AUTH);
  /// `rediss+cluster://` and `rediss+sentinel://` are the same over TLS.
  /// User and password are percent-decoded. Throws config_error (path "url"), whose message
  /// never repeats the password.
  static RedisOptions from_url(std::string_view url);

  /// Like from_url(), but overwrites only the connection fields (topology, nodes,
  /// sentinel_master, host, port, unix_socket, user, password, db, tls) of *this. Throws
  /// config_error.
  RedisOptions& apply_url(std::string_view url);

  /// A loggable one-line summary, e.g. "redis://app:***@10.0.0.5:6379/2 namespace=billing
  /// pool=8". The password is always shown as "***". TLS shows as rediss://... with the CA and
  /// client certificate files; verification turned off shows as "TLS-UNVERIFIED (insecure)".
  std::string describe() const;

  /// Throws config_error (path = the field name) if a field is out of range, or a TLS field is
  /// set without tls, or a TLS file named cannot be read.
  void validate() const;
};

}  // namespace ttlcache::redis

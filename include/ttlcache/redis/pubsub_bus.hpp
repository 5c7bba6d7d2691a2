// PubSubBus: the invalidation bus on Redis pub/sub (a dedicated subscriber connection and thread).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ttlcache/invalidation_bus.hpp"
#include "ttlcache/redis/options.hpp"

namespace ttlcache::redis {

/// Settings of a PubSubBus.
struct PubSubOptions {
  /// Where to connect (host, port, AUTH, timeouts, pool size for publishing, reconnect
  /// backoff). key_namespace is not used.
  RedisOptions redis;
  /// The channel every instance of the service publishes to and listens on.
  std::string channel = "ttlcache:invalidation";
  /// The subscriber sends PING when the connection has been silent this long, and gives the
  /// connection up when no reply comes within another interval: a server that vanished without
  /// closing the socket is noticed within about two intervals.
  std::chrono::milliseconds heartbeat_interval{1000};
  /// Messages are numbered per publisher and scope. A number that is missing this long after a
  /// later one arrived (PUBLISHes from one process's pooled connections may overtake each
  /// other by a little) is a lost message: the subscribers get a Kind::clear message for that
  /// scope (L1 reset) and PubSubStats::gaps goes up.
  std::chrono::milliseconds gap_grace{200};
  /// Called on the subscriber thread for every failed connect, refused AUTH and refused
  /// SUBSCRIBE, with a reason that names the server and never the credentials. Must not
  /// block; what it throws is dropped.
  std::function<void(std::string_view reason)> on_failure;
};

/// Counters of a PubSubBus. Monotonic, except connected.
struct PubSubStats {
  std::uint64_t published = 0;
  std::uint64_t publish_failures = 0;    ///< messages lost because PUBLISH failed
  std::uint64_t received = 0;            ///< messages from other instances, delivered
  std::uint64_t ignored_own = 0;         ///< this instance's own messages, dropped
  std::uint64_t malformed = 0;           ///< payloads on the channel that are not ours
  std::uint64_t subscriptions = 0;       ///< successful SUBSCRIBEs (1 + reconnects)
  std::uint64_t connect_failures = 0;    ///< connects that failed (auth_failures included)
  std::uint64_t auth_failures = 0;       ///< connects whose AUTH was refused (wrong password)
  std::uint64_t subscribe_failures = 0;  ///< SUBSCRIBEs the server refused (e.g. ACL NOPERM)
  std::uint64_t gaps = 0;    ///< lost messages detected by sequence number (each an L1 reset)
  bool connected = false;    ///< subscribed right now
  std::string last_failure;  ///< the reason of the last failure ("" if none yet)
};

/// An InvalidationBus on Redis pub/sub.
///
/// - Publishing: PUBLISH over a small connection pool, on the caller's thread. A failed
///   PUBLISH is counted (publish_failures) and not thrown: the write it follows has succeeded,
///   and the readers' staleness stays bounded by their L1 max TTL.
/// - Receiving: a dedicated thread owns one subscriber connection. It reconnects by itself
///   (capped exponential backoff from RedisOptions), and after every successful SUBSCRIBE runs
///   the reset handlers (messages sent while it was away are lost). healthy() is false from
///   the moment the connection is lost until it is subscribed again.
/// - Messages are a few dozen bytes: origin id, sequence number, kind, scope, subject (key,
///   prefix or tag name), version. Each bus object has a random origin id; its own messages
///   are ignored. Each publisher numbers its messages per scope; a gap (gap_grace) clears that
///   scope at the subscribers (a Kind::clear message) and is counted (gaps). A number not
///   heard of since this subscriber (re)subscribed starts a new sequence (it cannot tell a
///   gap before the first message of a publisher it has not heard from yet).
/// - Failures (connect, AUTH, SUBSCRIBE) are counted in PubSubStats and reported to
///   PubSubOptions::on_failure.
///
/// Thread-safety: every member may be called concurrently. The constructor throws
/// config_error for bad options; it does not wait for the subscription (see
/// wait_until_subscribed).
class PubSubBus final : public InvalidationBus {
 public:
  explicit PubSubBus(PubSubOptions options);
  ~PubSubBus() override;
  PubSubBus(const PubSubBus&) = delete;
  PubSubBus& operator=(const PubSubBus&) = delete;

  /// "redis-pubsub".
  std::string_view name() const noexcept override;
  void publish(const InvalidationMessage& message) override;
  std::uint64_t subscribe(Handler on_message, ResetHandler on_reset) override;
  void unsubscribe(std::uint64_t id) override;
  bool healthy() const noexcept override;

  /// Blocks until subscribed (true) or until timeout passes (false).
  bool wait_until_subscribed(std::chrono::milliseconds timeout) const;
  PubSubStats stats() const;
  /// This instance's origin id (16 hex digits), carried in every message it publishes.
  const std::string& instance_id() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The wire format, exposed for tests: "ttlc2|<origin>|<sequence>|<kind>|<version>|<scope
/// length>|" followed by scope and subject (message.sequence is written and read back).
/// decode also reads the earlier "ttlc1|<origin>|<kind>|..." (sequence 0) and returns false
/// for anything else.
std::string encode_message(std::string_view origin, const InvalidationMessage& message);
bool decode_message(std::string_view payload, std::string& origin, InvalidationMessage& out);

}  // namespace ttlcache::redis

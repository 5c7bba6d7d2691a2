// The near cache: a TieredBackend kept coherent by Redis itself (CLIENT TRACKING).
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "ttlcache/codec.hpp"
#include "ttlcache/codec_backend.hpp"
#include "ttlcache/invalidation_bus.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/redis/redis_store.hpp"
#include "ttlcache/tiered_backend.hpp"

namespace ttlcache::redis {

/// Which keys Redis reports (see docs/redis.md, "Near cache with CLIENT TRACKING").
enum class TrackingMode {
  /// Redis's default mode: each data connection is tracked for the keys it read
  /// (`CLIENT TRACKING on REDIRECT <id>`); only keys this instance read are reported. Costs
  /// server memory per key read (tracking-table-max-keys) and one set-up command per pooled
  /// connection, again whenever the tracking connection reconnects.
  keys_read,
  /// `BCAST PREFIX <namespace>:` (and the stamp prefix): every write to the namespace is
  /// reported, read or not. No per-key server memory, no set-up on the data connections;
  /// more messages when the namespace is written much more than this instance reads it.
  broadcast,
};

/// Settings of a TrackingBus.
struct TrackingOptions {
  TrackingMode mode = TrackingMode::broadcast;
  /// The tracking connection sends PING when silent this long and gives the connection up
  /// (emptying the near cache) when no reply comes within another interval.
  std::chrono::milliseconds heartbeat_interval{1000};
};

/// Counters of a TrackingBus. Monotonic, except connected and client_id.
struct TrackingStats {
  std::uint64_t invalidations = 0;  ///< key names Redis reported, in this namespace
  std::uint64_t foreign = 0;        ///< key names reported outside the namespace (ignored)
  /// Flush reports (FLUSHDB/FLUSHALL), each emptying the near cache. keys_read: Redis sends
  /// one per tracking connection, so one flush may count several times.
  std::uint64_t flushes = 0;
  std::uint64_t resets = 0;  ///< (re)subscriptions: near cache emptied each time
  std::uint64_t connect_failures = 0;
  bool connected = false;      ///< tracking and subscribed right now
  std::int64_t client_id = 0;  ///< CLIENT ID of the tracking connection (0: none)
};

/// An InvalidationBus fed by Redis server-assisted client-side caching: a dedicated
/// connection (own thread) subscribes to `__redis__:invalidate`, and Redis sends it the names
/// of keys written by any client (ttlcache or not, any language, redis-cli). Each name
/// "<namespace>:<key>" becomes a key message, "<namespace>@stamp:<name>" a stamp message (a
/// TieredStampStore on this bus drops its copy), a flush a clear message; the scope of every
/// message is the store's namespace.
///
/// - keys_read mode installs `CLIENT TRACKING on REDIRECT <id>` on every pooled connection of
///   the store (RedisStore::set_session_commands), again with the new id after a reconnect.
///   broadcast mode enables tracking on the subscriber connection only.
/// - When the tracking connection is lost (or killed, or silent past the heartbeat), healthy()
///   turns false at once; after it is subscribed again the reset handlers run (the near cache
///   is emptied: writes in between were not reported), then healthy() turns true.
/// - publish() sends nothing: Redis reports writes itself. Instances on one bus never see
///   their own messages either way; a TieredBackend also drops its own fresh copy when Redis
///   reports its own write (tracking has no origin), which costs a re-read, not correctness.
/// - Standalone servers only (a cluster needs one tracking connection per master). One
///   keys_read bus per store: a second would take over the store's session commands.
/// - A server that cannot track (Redis < 6, or an ACL without `client|tracking`,
///   `client|id`, `subscribe`) never gets the bus healthy: the near cache is bypassed, reads
///   go to Redis, connect_failures counts the attempts.
///
/// Thread-safety: every member may be called concurrently. The constructor throws
/// config_error (cluster or sentinel store, bad options); it does not wait for the
/// subscription (see wait_until_subscribed).
class TrackingBus final : public InvalidationBus {
 public:
  TrackingBus(std::shared_ptr<RedisStore> store, TrackingOptions options);
  ~TrackingBus() override;
  TrackingBus(const TrackingBus&) = delete;
  TrackingBus& operator=(const TrackingBus&) = delete;

  /// "redis-tracking".
  std::string_view name() const noexcept override;
  /// Does nothing (counted nowhere): Redis reports every write itself.
  void publish(const InvalidationMessage& message) override;
  std::uint64_t subscribe(Handler on_message, ResetHandler on_reset) override;
  void unsubscribe(std::uint64_t id) override;
  bool healthy() const noexcept override;

  /// Blocks until tracking and subscribed (true) or until timeout passes (false).
  bool wait_until_subscribed(std::chrono::milliseconds timeout) const;
  TrackingStats stats() const;
  /// The store's namespace: the scope of every message.
  const std::string& scope() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// What a key name reported by Redis means for the store of namespace key_namespace:
/// "<ns>:<key>" a key message, "<ns>@stamp:<name>" a stamp message, anything else nullopt.
/// Exposed for tests.
std::optional<InvalidationMessage> tracking_message_for(std::string_view redis_key,
                                                        std::string_view key_namespace);

/// A near cache over a Redis store and its tracking bus.
template <class K, class V>
struct NearCache {
  std::shared_ptr<TieredBackend<K, V>> backend;  ///< give this to Cache
  std::shared_ptr<TrackingBus> bus;              ///< its stats: invalidations, resets, flushes
};

/// A TieredBackend whose L1 (a MemoryBackend from l1_memory) is kept coherent by Redis itself:
/// L2 is the store behind a CodecBackend<K,V,KC,VC>, the bus a TrackingBus. tiered.scope is
/// set to the store's namespace; l2_erase_prefix to the store's erase_prefix unless given.
/// Key messages are decoded with BusKey<K> (the store's key names minus "<namespace>:"), so
/// KC and BusKey<K> must agree (they do for std::string and integral keys).
/// Throws config_error (see TrackingBus), argument_error (see TieredBackend).
template <class K, class V, class KC = KeyCodec<K>, class VC = ValueCodec<V>>
NearCache<K, V> make_tracked_backend(std::shared_ptr<RedisStore> store, TrackingOptions tracking,
                                     TieredOptions tiered = {},
                                     MemoryOptions<K, V> l1_memory = {}) {
  if (!store) throw argument_error("ttlcache: make_tracked_backend needs a store");
  NearCache<K, V> out;
  out.bus = std::make_shared<TrackingBus>(store, tracking);
  tiered.scope = out.bus->scope();
  if (!tiered.l2_erase_prefix) {
    std::weak_ptr<RedisStore> weak = store;
    tiered.l2_erase_prefix = [weak](std::string_view prefix) -> std::size_t {
      auto locked = weak.lock();
      return locked ? locked->erase_prefix(prefix) : 0;
    };
  }
  auto clock = l1_memory.clock;
  auto l1 = std::make_shared<MemoryBackend<K, V>>(std::move(l1_memory));
  auto l2 = std::make_shared<CodecBackend<K, V, KC, VC>>(std::move(store));
  out.backend = std::make_shared<TieredBackend<K, V>>(std::move(l1), std::move(l2), out.bus,
                                                      std::move(tiered), std::move(clock));
  return out;
}

}  // namespace ttlcache::redis

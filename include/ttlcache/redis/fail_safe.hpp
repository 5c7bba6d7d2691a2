// Fail-safe on Redis: entries stored as Timed<V> envelopes that outlive their TTL by max_stale,
// so Cache can serve a stale value when a load fails (see ttlcache/fail_safe.hpp).
// SPDX-License-Identifier: MIT
#pragma once

#include <memory>
#include <utility>

#include "ttlcache/codec.hpp"
#include "ttlcache/codec_backend.hpp"
#include "ttlcache/fail_safe.hpp"
#include "ttlcache/redis/redis_store.hpp"

namespace ttlcache::redis {

/// A fail-safe Backend<K,V> on an existing store. Each Redis key lives for TTL + max_stale;
/// plain reads see it only for its TTL. Values are TimedCodec envelopes around VC's bytes, so
/// other programs reading the keys see a binary header first.
template <class K, class V, class KC = KeyCodec<K>, class VC = ValueCodec<V>>
std::shared_ptr<FailSafeBackend<K, V>> make_fail_safe_backend(std::shared_ptr<RedisStore> store,
                                                              FailSafeOptions options = {}) {
  auto inner = std::make_shared<CodecBackend<K, Timed<V>, KC, TimedCodec<V, VC>>>(std::move(store));
  return std::make_shared<FailSafeBackend<K, V>>(std::move(inner), std::move(options));
}

/// As above, with a new store built from options. Throws like RedisStore's constructor.
template <class K, class V, class KC = KeyCodec<K>, class VC = ValueCodec<V>>
std::shared_ptr<FailSafeBackend<K, V>> make_fail_safe_backend(RedisOptions redis,
                                                              FailSafeOptions options = {}) {
  return make_fail_safe_backend<K, V, KC, VC>(std::make_shared<RedisStore>(std::move(redis)),
                                              std::move(options));
}

}  // namespace ttlcache::redis

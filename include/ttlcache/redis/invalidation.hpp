// Tag-aware and tiered backends on Redis: the factories that wire RedisStore, tags and the bus.
// SPDX-License-Identifier: MIT
#pragma once

#include <memory>
#include <string_view>
#include <utility>

#include "ttlcache/codec.hpp"
#include "ttlcache/codec_backend.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/invalidation_bus.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/redis/pubsub_bus.hpp"
#include "ttlcache/redis/redis_store.hpp"
#include "ttlcache/tags.hpp"
#include "ttlcache/tiered_backend.hpp"

namespace ttlcache::redis {

/// A tag-aware Backend<K,V> on Redis: entries are Tagged<V> envelopes under the store's
/// namespace, tag and entity versions are keys of the same store (shared by every instance
/// using that namespace), and invalidate_matching is the store's escaped SCAN + UNLINK.
/// Throws argument_error for a null store.
template <class K, class V, class KC = KeyCodec<K>, class VC = ValueCodec<V>>
std::shared_ptr<TaggedBackend<K, V>> make_tagged_backend(std::shared_ptr<RedisStore> store,
                                                         TaggedOptions options = {}) {
  if (!store) throw argument_error("ttlcache redis: make_tagged_backend needs a store");
  if (!options.erase_prefix) {
    options.erase_prefix = [store](std::string_view prefix) { return store->erase_prefix(prefix); };
  }
  if (!options.erase_pattern) {
    options.erase_pattern = [store](const KeyPattern& p) { return store->erase_pattern(p); };
  }
  auto inner = std::make_shared<CodecBackend<K, Tagged<V>, KC, TaggedCodec<V, VC>>>(store);
  return std::make_shared<TaggedBackend<K, V>>(std::move(inner), store, std::move(options));
}

/// One instance's tiered, tag-aware cache on Redis: L1 in-process (l1_memory), L2 the store,
/// versions in the store with a local copy, coherence over bus (a PubSubBus, usually; one per
/// instance). options.scope defaults to the store's namespace, and l2_erase_prefix to the
/// store's erase_prefix. Give the result's .backend to Cache.
template <class K, class V, class KC = KeyCodec<K>, class VC = ValueCodec<V>>
TieredTagged<K, V> make_tiered_backend(std::shared_ptr<RedisStore> store,
                                       std::shared_ptr<InvalidationBus> bus,
                                       TieredOptions options = {},
                                       MemoryOptions<K, Tagged<V>> l1_memory = {},
                                       TaggedOptions tagged = {}) {
  if (!store) throw argument_error("ttlcache redis: make_tiered_backend needs a store");
  if (options.scope == TieredOptions{}.scope) options.scope = store->key_namespace();
  if (!options.l2_erase_prefix) {
    options.l2_erase_prefix = [store](std::string_view prefix) {
      return store->erase_prefix(prefix);
    };
  }
  if (!options.l2_erase_pattern) {
    options.l2_erase_pattern = [store](const KeyPattern& p) { return store->erase_pattern(p); };
  }
  auto l2 = std::make_shared<CodecBackend<K, Tagged<V>, KC, TaggedCodec<V, VC>>>(store);
  return make_tiered_tagged<K, V>(std::move(l2), store, std::move(bus), std::move(options),
                                  std::move(l1_memory), std::move(tagged));
}

}  // namespace ttlcache::redis

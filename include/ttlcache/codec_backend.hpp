// CodecBackend: puts a byte-level ByteStore (e.g. Redis) behind the typed Backend interface.
// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ttlcache/backend.hpp"
#include "ttlcache/backend_stats.hpp"
#include "ttlcache/byte_store.hpp"
#include "ttlcache/codec.hpp"
#include "ttlcache/envelope_codec.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/json_codec.hpp"

namespace ttlcache {

/// Encodes keys with KC and values with VC, and stores the bytes in a ByteStore.
/// Undecodable bytes read as a miss and are counted in corrupt_values(). Thread-safe if the
/// store is (all shipped stores are).
template <class K, class V, class KC = KeyCodec<K>, class VC = ValueCodec<V>>
class CodecBackend final : public Backend<K, V>, public StatsSource {
 public:
  explicit CodecBackend(std::shared_ptr<ByteStore> store) : store_(std::move(store)) {
    if (!store_) throw argument_error("ttlcache: CodecBackend needs a store");
  }

  std::string_view name() const noexcept override { return store_->name(); }

  std::optional<V> get(const K& key) override { return decode(store_->get(KC::encode(key))); }

  void set(const K& key, V value, std::chrono::milliseconds ttl) override {
    std::string encoded_key = KC::encode(key);
    store_->set(encoded_key, encode(encoded_key, value), ttl);
  }

  bool erase(const K& key) override { return store_->erase(KC::encode(key)); }
  bool contains(const K& key) override { return store_->contains(KC::encode(key)); }
  std::optional<std::chrono::milliseconds> ttl(const K& key) override {
    return store_->ttl(KC::encode(key));
  }

  std::vector<std::optional<V>> get_many(const std::vector<K>& keys) override {
    std::vector<std::optional<std::string>> raw;
    if constexpr (keys_pass_through) {
      raw = store_->get_many(keys);  // string keys are their own encoding: no copy of the batch
    } else {
      std::vector<std::string> encoded;
      encoded.reserve(keys.size());
      for (const auto& key : keys) encoded.push_back(KC::encode(key));
      raw = store_->get_many(encoded);
    }
    if constexpr (values_pass_through) {
      return raw;  // the store's strings are the values: no second copy per key
    } else {
      std::vector<std::optional<V>> out;
      out.reserve(raw.size());
      for (auto& bytes : raw) out.push_back(decode(std::move(bytes)));
      return out;
    }
  }

  void set_many(std::vector<Write<K, V>> items) override {
    std::vector<ByteStore::Write> writes;
    writes.reserve(items.size());
    // Encode everything first: a codec failure must leave the store untouched.
    for (auto& item : items) {
      std::string encoded_key = KC::encode(item.key);
      std::string bytes = encode(encoded_key, item.value);
      writes.push_back({std::move(encoded_key), std::move(bytes), item.ttl});
    }
    store_->set_many(writes);
  }

  void clear() override { store_->clear(); }
  std::size_t size() override { return store_->size(); }

  /// How many values read so far the value codec could not decode (served as misses). The
  /// store's own rejects are in store().corrupt_values(); collect_stats() reports the sum.
  std::uint64_t corrupt_values() const noexcept { return corrupt_.load(std::memory_order_relaxed); }
  ByteStore& store() noexcept { return *store_; }

  /// Reports corrupt values only (the codec's plus the store's): the store's size would need a
  /// full scan.
  void collect_stats(BackendStats& out) const noexcept override {
    out.corrupt_values = corrupt_values() + store_->corrupt_values();
  }

 private:
  // The shipped string codecs copy bytes unchanged: batches hand the store's strings on as they
  // are (a custom codec for std::string still runs).
  static constexpr bool keys_pass_through =
      std::is_same_v<K, std::string> && std::is_same_v<KC, KeyCodec<std::string>>;
  static constexpr bool values_pass_through =
      std::is_same_v<V, std::string> && std::is_same_v<VC, ValueCodec<std::string>>;

  std::optional<V> decode(std::optional<std::string> bytes) {
    if (!bytes) return std::nullopt;
    if constexpr (values_pass_through) return bytes;
    std::optional<V> value = VC::decode(*bytes);
    if (!value) corrupt_.fetch_add(1, std::memory_order_relaxed);
    return value;
  }

  std::string encode(const std::string& encoded_key, const V& value) {
    try {
      return VC::encode(value);
    } catch (const std::exception& e) {
      throw codec_error("ttlcache " + std::string(store_->name()) + " backend: cannot encode " +
                        "the value for key " + detail::printable_key(encoded_key) + ": " +
                        e.what());
    }
  }

  std::shared_ptr<ByteStore> store_;
  std::atomic<std::uint64_t> corrupt_{0};
};

}  // namespace ttlcache

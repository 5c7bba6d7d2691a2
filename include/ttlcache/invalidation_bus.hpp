// The invalidation bus: tells other instances which keys, prefixes and tag versions changed.
// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ttlcache/codec.hpp"
#include "ttlcache/errors.hpp"

namespace ttlcache {

/// One invalidation. Small by design: keys, prefixes, tag names and versions, never values.
struct InvalidationMessage {
  enum class Kind : char {
    key = 'k',     ///< subject is an encoded key that was set or erased
    prefix = 'p',  ///< every key starting with subject was removed (invalidate_matching)
    clear = 'c',   ///< the whole cache was cleared
    /// tag or entity subject got a new version (version: the one the sender got; receivers
    /// must not store it, a late message would bring back an older version)
    stamp = 's',
  };
  Kind kind = Kind::key;
  /// Which cache the message is about (e.g. the Redis namespace), so that several caches can
  /// share one bus.
  std::string scope;
  std::string subject;
  std::uint64_t version = 0;
  /// Set by a transport that numbers messages (PubSubBus): the publisher's sequence number
  /// for this scope, 1, 2, 3... so receivers can detect lost messages. 0: not numbered.
  std::uint64_t sequence = 0;
};

/// Carries InvalidationMessages between the instances of a service.
///
/// Contract:
/// - publish() never throws for a transport failure: the message is dropped and counted
///   (readers stay correct within the L1 staleness bound; see docs/invalidation.md).
/// - An instance never receives its own messages (each bus object is one instance).
/// - Handlers run on the bus's delivery thread (or, in-process, on the publisher's); they must
///   not block for long and must not subscribe or unsubscribe. Exceptions they throw are
///   swallowed.
/// - on_reset runs after every (re)subscription: messages sent while this instance was not
///   listening are lost, so a subscriber must drop what it may have missed (its L1).
/// - healthy() is false while the instance is known not to be listening.
/// - A transport that detects lost messages for one scope (PubSubBus: a gap in a publisher's
///   sequence numbers) delivers a Kind::clear message for that scope: subscribers drop what
///   they hold for it, as after a reset.
/// Thread-safety: every member may be called concurrently.
class InvalidationBus {
 public:
  using Handler = std::function<void(const InvalidationMessage&)>;
  using ResetHandler = std::function<void()>;

  virtual ~InvalidationBus() = default;
  virtual std::string_view name() const noexcept = 0;
  virtual void publish(const InvalidationMessage& message) = 0;
  /// Registers handlers; returns an id for unsubscribe().
  virtual std::uint64_t subscribe(Handler on_message, ResetHandler on_reset) = 0;
  /// Removes a subscription; when it returns, its handlers are not running and never will.
  virtual void unsubscribe(std::uint64_t id) = 0;
  virtual bool healthy() const noexcept = 0;
};

namespace detail {

/// Subscriptions of a bus: dispatch runs handlers under the shared side, so unsubscribe (the
/// exclusive side) waits for running handlers to finish.
class HandlerRegistry {
 public:
  std::uint64_t add(InvalidationBus::Handler on_message, InvalidationBus::ResetHandler on_reset) {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    const std::uint64_t id = ++next_id_;
    entries_.emplace(id, Entry{std::move(on_message), std::move(on_reset)});
    return id;
  }
  void remove(std::uint64_t id) {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    entries_.erase(id);
  }
  void dispatch(const InvalidationMessage& message) {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    for (auto& [id, entry] : entries_) {
      try {
        if (entry.on_message) entry.on_message(message);
      } catch (...) {  // a subscriber's failure must not stop delivery to the others
      }
    }
  }
  void reset() {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    for (auto& [id, entry] : entries_) {
      try {
        if (entry.on_reset) entry.on_reset();
      } catch (...) {
      }
    }
  }

 private:
  struct Entry {
    InvalidationBus::Handler on_message;
    InvalidationBus::ResetHandler on_reset;
  };
  std::shared_mutex mutex_;
  std::map<std::uint64_t, Entry> entries_;
  std::uint64_t next_id_ = 0;
};

}  // namespace detail

/// How a key travels in bus messages, and back. Provided for std::string and integral types;
/// specialise for other key types used with a TieredBackend (decode returns nullopt for text
/// that is not a key; such messages are ignored).
template <class K, class Enable = void>
struct BusKey {
  static_assert(sizeof(K) == 0,
                "specialise ttlcache::BusKey<K> (encode/decode) to use this key type on a bus");
};

template <>
struct BusKey<std::string> {
  static std::string encode(const std::string& key) { return key; }
  static std::optional<std::string> decode(std::string_view text) { return std::string(text); }
};

template <class K>
struct BusKey<K, std::enable_if_t<std::is_integral_v<K> && !std::is_same_v<K, bool>>> {
  static std::string encode(K key) { return KeyCodec<K>::encode(key); }
  static std::optional<K> decode(std::string_view text) {
    K value{};
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end) return std::nullopt;
    return value;
  }
};

class InProcessBus;

/// Connects InProcessBus endpoints: what one publishes, the others receive, synchronously on
/// the publisher's thread. For tests and single-process setups. Thread-safe.
class InProcessHub {
 public:
  InProcessHub() = default;
  InProcessHub(const InProcessHub&) = delete;
  InProcessHub& operator=(const InProcessHub&) = delete;

 private:
  friend class InProcessBus;
  void attach(InProcessBus* bus) {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    members_.push_back(bus);
  }
  void detach(InProcessBus* bus) {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    for (auto it = members_.begin(); it != members_.end(); ++it) {
      if (*it == bus) {
        members_.erase(it);
        break;
      }
    }
  }
  inline void deliver(const InProcessBus* from, const InvalidationMessage& message);

  std::shared_mutex mutex_;
  std::vector<InProcessBus*> members_;
};

/// One instance's endpoint on an InProcessHub. Test controls: set_connected(false) simulates an
/// outage (nothing delivered either way, healthy() false; reconnecting runs the reset
/// handlers), and drop_messages(true) loses incoming messages silently (healthy() stays true),
/// as a network that drops packets would.
class InProcessBus final : public InvalidationBus {
 public:
  explicit InProcessBus(std::shared_ptr<InProcessHub> hub) : hub_(std::move(hub)) {
    if (!hub_) throw argument_error("ttlcache: InProcessBus needs a hub");
    hub_->attach(this);
  }
  ~InProcessBus() override { hub_->detach(this); }
  InProcessBus(const InProcessBus&) = delete;
  InProcessBus& operator=(const InProcessBus&) = delete;

  std::string_view name() const noexcept override { return "in-process"; }

  void publish(const InvalidationMessage& message) override {
    published_.fetch_add(1, std::memory_order_relaxed);
    if (!connected_.load(std::memory_order_acquire)) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    hub_->deliver(this, message);
  }
  std::uint64_t subscribe(Handler on_message, ResetHandler on_reset) override {
    return handlers_.add(std::move(on_message), std::move(on_reset));
  }
  void unsubscribe(std::uint64_t id) override { handlers_.remove(id); }
  bool healthy() const noexcept override { return connected_.load(std::memory_order_acquire); }

  /// Simulates losing (false) and regaining (true) the connection; regaining runs on_reset.
  void set_connected(bool connected) {
    const bool was = connected_.exchange(connected, std::memory_order_acq_rel);
    if (connected && !was) handlers_.reset();
  }
  /// Drops incoming messages silently while true (the instance does not notice).
  void drop_messages(bool drop) { dropping_.store(drop, std::memory_order_release); }

  std::uint64_t received() const noexcept { return received_.load(std::memory_order_relaxed); }
  std::uint64_t published() const noexcept { return published_.load(std::memory_order_relaxed); }

 private:
  friend class InProcessHub;
  void receive(const InvalidationMessage& message) {
    if (!connected_.load(std::memory_order_acquire) || dropping_.load(std::memory_order_acquire)) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    received_.fetch_add(1, std::memory_order_relaxed);
    handlers_.dispatch(message);
  }

  std::shared_ptr<InProcessHub> hub_;
  detail::HandlerRegistry handlers_;
  std::atomic<bool> connected_{true};
  std::atomic<bool> dropping_{false};
  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

inline void InProcessHub::deliver(const InProcessBus* from, const InvalidationMessage& message) {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  for (InProcessBus* member : members_) {
    if (member != from) member->receive(message);  // an instance ignores its own messages
  }
}

}  // namespace ttlcache

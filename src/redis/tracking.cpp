// TrackingBus: a subscriber to __redis__:invalidate that turns Redis's key reports into messages.
// SPDX-License-Identifier: MIT
#include "ttlcache/redis/tracking.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include "connection.hpp"
#include "ttlcache/errors.hpp"

namespace ttlcache::redis {

namespace {

constexpr std::string_view invalidate_channel = "__redis__:invalidate";

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::optional<InvalidationMessage> tracking_message_for(std::string_view redis_key,
                                                        std::string_view key_namespace) {
  if (!starts_with(redis_key, key_namespace)) return std::nullopt;
  const std::string_view rest = redis_key.substr(key_namespace.size());
  InvalidationMessage m;
  m.scope.assign(key_namespace);
  constexpr std::string_view stamp_marker = "@stamp:";
  if (starts_with(rest, ":")) {
    m.kind = InvalidationMessage::Kind::key;
    m.subject.assign(rest.substr(1));
  } else if (starts_with(rest, stamp_marker)) {
    m.kind = InvalidationMessage::Kind::stamp;
    m.subject.assign(rest.substr(stamp_marker.size()));
  } else {
    return std::nullopt;
  }
  return m;
}

struct TrackingBus::Impl {
  Impl(std::shared_ptr<RedisStore> s, TrackingOptions o)
      : store(std::move(s)), options(o), scope(store->key_namespace()) {
    const RedisOptions& base = store->options();
    if (base.topology != Topology::standalone) {
      throw config_error("topology",
                         "the near cache (CLIENT TRACKING) needs a standalone Redis server: a "
                         "cluster or Sentinel set-up would need a tracking connection per master");
    }
    if (options.heartbeat_interval.count() <= 0) {
      throw config_error("heartbeat_interval", "must be positive");
    }
    subscriber_options = base;
    subscriber_options.client_name =
        (base.client_name.empty() ? std::string("ttlcache") : base.client_name) + "-tracking";
    if (::pipe(wake) != 0) {
      throw backend_error("redis",
                          fmt::format("cannot create the tracking wake-up pipe (errno {})", errno));
    }
    ::fcntl(wake[0], F_SETFL, O_NONBLOCK);
    ::fcntl(wake[1], F_SETFL, O_NONBLOCK);
  }
  ~Impl() {
    ::close(wake[0]);
    ::close(wake[1]);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  std::shared_ptr<RedisStore> store;
  const TrackingOptions options;
  const std::string scope;
  RedisOptions subscriber_options;
  ttlcache::detail::HandlerRegistry handlers;
  int wake[2] = {-1, -1};

  std::atomic<bool> stop{false};
  std::atomic<bool> connected{false};
  mutable std::mutex mutex;  // guards the condition variable waits
  mutable std::condition_variable changed;
  std::thread thread;

  std::atomic<std::uint64_t> invalidations{0}, foreign{0}, flushes{0}, resets{0},
      connect_failures{0};
  std::atomic<std::int64_t> client_id{0};

  void set_connected(bool value) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      connected.store(value, std::memory_order_release);
    }
    changed.notify_all();
  }

  void pause(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait_for(lock, d, [this] { return stop.load(); });
  }

  void run() {
    auto backoff = subscriber_options.reconnect_backoff_initial;
    while (!stop.load()) {
      detail::Connection::OpenResult opened;
      try {
        opened = detail::Connection::open(subscriber_options);
      } catch (...) {  // bad_alloc: try again later rather than end the thread
      }
      bool was_subscribed = false;
      if (opened.connection) {
        try {
          was_subscribed = session(*opened.connection);
        } catch (...) {  // bad_alloc: a new connection later rather than the end of the thread
        }
        // Not listening from here on: the near cache is bypassed until the next reset.
        set_connected(false);
        client_id.store(0, std::memory_order_relaxed);
        opened.connection.reset();
      }
      if (!was_subscribed) connect_failures.fetch_add(1, std::memory_order_relaxed);
      if (stop.load()) break;
      if (was_subscribed) {
        backoff = subscriber_options.reconnect_backoff_initial;
      } else {
        pause(backoff);
        backoff = std::min(backoff * 2, subscriber_options.reconnect_backoff_max);
      }
    }
  }

  // Turns tracking on for this session: for the subscriber itself (broadcast) or for every
  // data connection of the store, redirected here (keys_read). False when Redis refused.
  bool enable_tracking(detail::Connection& connection, std::int64_t id) {
    const std::string id_text = std::to_string(id);
    if (options.mode == TrackingMode::keys_read) {
      // The data connections' set-up errors are not reported back (the pool lends them
      // anyway), so prove here, with the same user, that the server tracks at all (Redis >= 6,
      // ACL allows it): otherwise the near cache would fill with copies nobody reports. The
      // subscriber reads no keys, so tracking itself costs nothing.
      detail::Reply probe = connection.command({"CLIENT", "TRACKING", "on", "REDIRECT", id_text});
      if (!probe || probe->type != REDIS_REPLY_STATUS) return false;
      try {
        store->set_session_commands({{"CLIENT", "TRACKING", "on", "REDIRECT", id_text}});
      } catch (const ttlcache::error&) {
        return false;
      }
      return true;
    }
    const std::string data_prefix = scope + ":";
    const std::string stamp_prefix = scope + "@stamp:";
    detail::Args args;
    for (std::string_view word :
         {std::string_view("CLIENT"), std::string_view("TRACKING"), std::string_view("on"),
          std::string_view("REDIRECT"), std::string_view(id_text), std::string_view("BCAST"),
          std::string_view("PREFIX"), std::string_view(data_prefix), std::string_view("PREFIX"),
          std::string_view(stamp_prefix)}) {
      args.add(word);
    }
    detail::Reply reply = connection.command(args);
    return reply && reply->type == REDIS_REPLY_STATUS;
  }

  // One connection's life: CLIENT ID, tracking on, SUBSCRIBE, then read until the connection
  // fails or stop. Returns whether it got as far as being subscribed.
  bool session(detail::Connection& connection) {
    using clock = std::chrono::steady_clock;
    detail::Reply id_reply = connection.command({"CLIENT", "ID"});
    if (!id_reply || id_reply->type != REDIS_REPLY_INTEGER) return false;
    const std::int64_t id = id_reply->integer;
    if (!enable_tracking(connection, id)) return false;
    client_id.store(id, std::memory_order_relaxed);

    if (!connection.append({"SUBSCRIBE", invalidate_channel}) || !connection.flush()) return false;
    bool subscribed = false;
    const auto started = clock::now();
    auto last_heard = started;
    bool ping_outstanding = false;
    const auto beat = options.heartbeat_interval;

    for (;;) {
      for (;;) {  // replies already buffered first: poll() cannot see them
        detail::Reply reply;
        if (!connection.buffered_reply(reply)) return subscribed;
        if (!reply) break;
        last_heard = clock::now();
        ping_outstanding = false;
        if (!handle(reply.get(), subscribed)) return subscribed;
      }
      if (stop.load()) return subscribed;

      const auto now = clock::now();
      if (!subscribed && now - started > subscriber_options.command_timeout) return false;
      if (ping_outstanding && now - last_heard > 2 * beat) return subscribed;  // silent: dead
      if (subscribed && !ping_outstanding && now - last_heard >= beat) {
        if (!connection.append({"PING"}) || !connection.flush()) return subscribed;
        ping_outstanding = true;
      }

      pollfd fds[2] = {{connection.fd(), POLLIN, 0}, {wake[0], POLLIN, 0}};
      const int timeout_ms = static_cast<int>(std::max<long long>(
          1, std::min<long long>(beat.count(), subscriber_options.command_timeout.count()) / 4));
      const int ready = ::poll(fds, 2, timeout_ms);
      if (ready < 0) {
        if (errno == EINTR) continue;
        return subscribed;
      }
      if (fds[1].revents != 0) {
        char buffer[16];
        while (::read(wake[0], buffer, sizeof buffer) > 0) {
        }
      }
      if (fds[0].revents != 0) {
        if (!connection.read_available()) return subscribed;  // EOF, reset, CLIENT KILL
      }
    }
  }

  void report_key(std::string_view redis_key) {
    std::optional<InvalidationMessage> message = tracking_message_for(redis_key, scope);
    if (!message) {
      foreign.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    handlers.dispatch(*message);
    // Counted after delivery: whoever sees the count sees the near copy gone.
    invalidations.fetch_add(1, std::memory_order_relaxed);
  }

  // Returns false when the reply says the session is unusable.
  bool handle(const redisReply* reply, bool& subscribed) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
      return reply->type != REDIS_REPLY_ERROR;
    }
    const std::string_view type(reply->element[0]->str, reply->element[0]->len);
    if (type == "subscribe") {
      subscribed = true;
      // Writes made while we were not tracking were not reported: subscribers drop what they
      // hold, before healthy() turns true (see PubSubBus for why this order).
      handlers.reset();
      resets.fetch_add(1, std::memory_order_relaxed);
      set_connected(true);
      return true;
    }
    if (type != "message" || reply->elements != 3) return true;  // "pong": proof of life
    const redisReply* payload = reply->element[2];
    if (payload->type == REDIS_REPLY_NIL) {
      // FLUSHDB / FLUSHALL (of any database: tracking does not say which).
      InvalidationMessage clear;
      clear.kind = InvalidationMessage::Kind::clear;
      clear.scope = scope;
      handlers.dispatch(clear);
      flushes.fetch_add(1, std::memory_order_relaxed);
    } else if (payload->type == REDIS_REPLY_ARRAY) {
      for (std::size_t i = 0; i < payload->elements; ++i) {
        const redisReply* key = payload->element[i];
        if (key->type == REDIS_REPLY_STRING) report_key(std::string_view(key->str, key->len));
      }
    } else if (payload->type == REDIS_REPLY_STRING) {
      report_key(std::string_view(payload->str, payload->len));
    }
    return true;
  }
};

TrackingBus::TrackingBus(std::shared_ptr<RedisStore> store, TrackingOptions options) {
  if (!store) throw argument_error("ttlcache: TrackingBus needs a store");
  impl_ = std::make_unique<Impl>(std::move(store), options);
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

TrackingBus::~TrackingBus() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop.store(true);
  }
  impl_->changed.notify_all();
  const char byte = 1;
  (void)!::write(impl_->wake[1], &byte, 1);
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->options.mode == TrackingMode::keys_read) {
    try {  // the data connections stop reporting to a connection that is gone
      impl_->store->set_session_commands({{"CLIENT", "TRACKING", "off"}});
    } catch (...) {
    }
  }
}

std::string_view TrackingBus::name() const noexcept { return "redis-tracking"; }

void TrackingBus::publish(const InvalidationMessage& /*message*/) {}

std::uint64_t TrackingBus::subscribe(Handler on_message, ResetHandler on_reset) {
  return impl_->handlers.add(std::move(on_message), std::move(on_reset));
}

void TrackingBus::unsubscribe(std::uint64_t id) { impl_->handlers.remove(id); }

bool TrackingBus::healthy() const noexcept {
  return impl_->connected.load(std::memory_order_acquire);
}

bool TrackingBus::wait_until_subscribed(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [this] { return impl_->connected.load(); });
}

TrackingStats TrackingBus::stats() const {
  TrackingStats s;
  s.invalidations = impl_->invalidations.load(std::memory_order_relaxed);
  s.foreign = impl_->foreign.load(std::memory_order_relaxed);
  s.flushes = impl_->flushes.load(std::memory_order_relaxed);
  s.resets = impl_->resets.load(std::memory_order_relaxed);
  s.connect_failures = impl_->connect_failures.load(std::memory_order_relaxed);
  s.connected = impl_->connected.load(std::memory_order_acquire);
  s.client_id = impl_->client_id.load(std::memory_order_relaxed);
  return s;
}

const std::string& TrackingBus::scope() const noexcept { return impl_->scope; }

}  // namespace ttlcache::redis

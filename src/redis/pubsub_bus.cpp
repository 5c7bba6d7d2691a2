// PubSubBus: PUBLISH over a pool; a subscriber thread with poll(), heartbeats and reconnects.
// SPDX-License-Identifier: MIT
#include "ttlcache/redis/pubsub_bus.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include "cluster.hpp"
#include "connection.hpp"
#include "pool.hpp"
#include "ttlcache/errors.hpp"

namespace ttlcache::redis {

namespace {

constexpr std::string_view wire_magic_v1 = "ttlc1|";
constexpr std::string_view wire_magic = "ttlc2|";

bool valid_kind(char c) {
  return c == static_cast<char>(InvalidationMessage::Kind::key) ||
         c == static_cast<char>(InvalidationMessage::Kind::prefix) ||
         c == static_cast<char>(InvalidationMessage::Kind::clear) ||
         c == static_cast<char>(InvalidationMessage::Kind::stamp);
}

// Reads a decimal number up to the next '|'; advances pos past the '|'.
template <class T>
bool take_number(std::string_view in, std::size_t& pos, T& out) {
  const std::size_t bar = in.find('|', pos);
  if (bar == std::string_view::npos) return false;
  auto [ptr, ec] = std::from_chars(in.data() + pos, in.data() + bar, out);
  if (ec != std::errc() || ptr != in.data() + bar) return false;
  pos = bar + 1;
  return true;
}

std::string random_origin() {
  std::random_device device;
  const std::uint64_t a = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  return fmt::format("{:016x}", a);
}

}  // namespace

std::string encode_message(std::string_view origin, const InvalidationMessage& message) {
  return fmt::format("{}{}|{}|{}|{}|{}|{}{}", wire_magic, origin, message.sequence,
                     static_cast<char>(message.kind), message.version, message.scope.size(),
                     message.scope, message.subject);
}

bool decode_message(std::string_view payload, std::string& origin, InvalidationMessage& out) {
  const bool v2 = payload.substr(0, wire_magic.size()) == wire_magic;
  if (!v2 && payload.substr(0, wire_magic_v1.size()) != wire_magic_v1) return false;
  std::size_t pos = wire_magic.size();
  const std::size_t bar = payload.find('|', pos);
  if (bar == std::string_view::npos) return false;
  origin.assign(payload.substr(pos, bar - pos));
  pos = bar + 1;
  out.sequence = 0;
  if (v2 && !take_number(payload, pos, out.sequence)) return false;
  if (pos + 2 > payload.size() || !valid_kind(payload[pos]) || payload[pos + 1] != '|') {
    return false;
  }
  out.kind = static_cast<InvalidationMessage::Kind>(payload[pos]);
  pos += 2;
  std::size_t scope_size = 0;
  if (!take_number(payload, pos, out.version) || !take_number(payload, pos, scope_size)) {
    return false;
  }
  if (payload.size() - pos < scope_size) return false;
  out.scope.assign(payload.substr(pos, scope_size));
  out.subject.assign(payload.substr(pos + scope_size));
  return true;
}

struct PubSubBus::Impl {
  explicit Impl(PubSubOptions opts)
      : options(validated(std::move(opts))), router(options.redis), origin(random_origin()) {
    subscriber_name = (options.redis.client_name.empty() ? std::string("ttlcache-bus")
                                                         : options.redis.client_name) +
                      "-sub";
    if (::pipe(wake) != 0) {
      throw backend_error("redis",
                          fmt::format("cannot create the bus wake-up pipe (errno {})", errno));
    }
    ::fcntl(wake[0], F_SETFL, O_NONBLOCK);
    ::fcntl(wake[1], F_SETFL, O_NONBLOCK);
  }
  ~Impl() {
    ::close(wake[0]);
    ::close(wake[1]);
  }

  static PubSubOptions validated(PubSubOptions o) {
    o.redis.validate();
    if (o.channel.empty()) throw config_error("channel", "the pub/sub channel must not be empty");
    if (o.heartbeat_interval.count() <= 0) {
      throw config_error("heartbeat_interval", "must be positive");
    }
    if (o.gap_grace.count() <= 0) throw config_error("gap_grace", "must be positive");
    return o;
  }

  const PubSubOptions options;
  std::string subscriber_name;
  // Standalone: the one server. Cluster: a PUBLISH on any node reaches the subscribers of
  // every node, so both sides use whichever node answers (seeds first, then the masters).
  // Sentinel: the current master (PUBLISH is replicated, but a master is where writes go).
  detail::Router router;
  std::atomic<std::size_t> preferred{0};  // index of the candidate that last worked
  const std::string origin;
  ttlcache::detail::HandlerRegistry handlers;
  int wake[2] = {-1, -1};

  std::atomic<bool> stop{false};
  std::atomic<bool> connected{false};
  mutable std::mutex mutex;  // guards the condition variable waits
  mutable std::condition_variable changed;
  std::thread thread;

  std::atomic<std::uint64_t> published{0}, publish_failures{0}, received{0}, ignored_own{0},
      malformed{0}, subscriptions{0}, connect_failures{0}, auth_failures{0}, subscribe_failures{0},
      gaps{0};

  // Publishing side: the next sequence number of each scope.
  std::mutex sequence_mutex;
  std::unordered_map<std::string, std::uint64_t> next_sequence;

  // Receiving side (the subscriber thread only): per publisher and scope, the highest number
  // seen and the numbers below it not seen yet, with when they were first missed.
  struct Stream {
    std::string scope;
    std::uint64_t highest = 0;
    std::map<std::uint64_t, std::chrono::steady_clock::time_point> missing;
  };
  std::unordered_map<std::string, Stream> streams;
  bool any_missing = false;
  static constexpr std::size_t max_streams = 10'000;
  static constexpr std::uint64_t max_missing = 256;

  mutable std::mutex failure_mutex;
  std::string last_failure;

  void report_failure(const std::string& reason) {
    {
      std::lock_guard<std::mutex> lock(failure_mutex);
      last_failure = reason;
    }
    if (!options.on_failure) return;
    try {
      options.on_failure(reason);
    } catch (...) {  // a listener's failure must not stop the subscriber
    }
  }

  std::uint64_t next_number(const std::string& scope) {
    std::lock_guard<std::mutex> lock(sequence_mutex);
    return ++next_sequence[scope];
  }

  // Lost messages of one scope: subscribers drop what they hold for it.
  void gap(const std::string& scope) {
    gaps.fetch_add(1, std::memory_order_relaxed);
    InvalidationMessage clear;
    clear.kind = InvalidationMessage::Kind::clear;
    clear.scope = scope;
    handlers.dispatch(clear);
  }

  // Tracks one numbered message; may declare a gap at once (a jump too large to wait for).
  void track(const std::string& from, const InvalidationMessage& m) {
    if (m.sequence == 0) return;  // an unnumbered (older) publisher
    const auto now = std::chrono::steady_clock::now();
    std::string id = from;
    id.append(1, '\0').append(m.scope);
    auto it = streams.find(id);
    if (it == streams.end()) {
      if (streams.size() >= max_streams) streams.clear();  // publishers come and go
      Stream fresh;
      fresh.scope = m.scope;
      fresh.highest = m.sequence;
      streams.emplace(std::move(id), std::move(fresh));
      return;
    }
    Stream& s = it->second;
    if (m.sequence <= s.highest) {
      s.missing.erase(m.sequence);  // a late one, or a duplicate
      return;
    }
    if (m.sequence - s.highest - 1 > max_missing) {
      s.missing.clear();
      s.highest = m.sequence;
      gap(s.scope);
      return;
    }
    for (std::uint64_t n = s.highest + 1; n < m.sequence; ++n) s.missing.emplace(n, now);
    any_missing = any_missing || !s.missing.empty();
    s.highest = m.sequence;
  }

  // Numbers still missing after gap_grace are lost.
  void check_gaps() {
    if (!any_missing) return;  // the usual case: nothing to walk
    const auto limit = std::chrono::steady_clock::now() - options.gap_grace;
    any_missing = false;
    for (auto& [id, s] : streams) {
      if (!s.missing.empty() && s.missing.begin()->second <= limit) {
        s.missing.clear();
        gap(s.scope);
      }
      any_missing = any_missing || !s.missing.empty();
    }
  }

  void set_connected(bool value) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      connected.store(value, std::memory_order_release);
    }
    changed.notify_all();
  }

  // Sleeps for d unless stop is requested first.
  void pause(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait_for(lock, d, [this] { return stop.load(); });
  }

  // The nodes to try, in order. Never throws: a topology that cannot be learned just leaves
  // fewer candidates (possibly none).
  std::vector<std::shared_ptr<detail::Node>> candidates() {
    std::vector<std::shared_ptr<detail::Node>> out;
    try {
      if (options.redis.topology == Topology::cluster) {
        for (const auto& seed : options.redis.nodes)
          out.push_back(router.node_at(seed.host, seed.port));
        for (auto& node : router.masters()) {
          if (std::find(out.begin(), out.end(), node) == out.end()) out.push_back(std::move(node));
        }
      } else {
        out.push_back(router.node_for_key({}));
      }
    } catch (const ttlcache::error&) {
    }
    return out;
  }

  // After a failure: Sentinel may name a new master, a cluster may have a new map.
  void relearn() {
    if (options.redis.topology == Topology::standalone) return;
    try {
      router.refresh(false);
    } catch (const ttlcache::error&) {
    }
  }

  void run() {
    auto backoff = options.redis.reconnect_backoff_initial;
    std::size_t attempt = 0;
    while (!stop.load()) {
      detail::Connection::OpenResult opened;
      try {
        const auto nodes = candidates();
        if (!nodes.empty()) {
          RedisOptions subscriber_options = nodes[attempt % nodes.size()]->options;
          subscriber_options.client_name = subscriber_name;
          opened = detail::Connection::open(subscriber_options);
        }
      } catch (...) {  // bad_alloc: try again later rather than end the thread
      }
      if (!opened.connection) {
        connect_failures.fetch_add(1, std::memory_order_relaxed);
        const bool auth = opened.reason.rfind("AUTH was refused", 0) == 0;
        if (auth) auth_failures.fetch_add(1, std::memory_order_relaxed);
        try {
          report_failure(fmt::format("invalidation bus cannot connect to {}: {}",
                                     detail::endpoint_of(options.redis),
                                     opened.reason.empty() ? "no node known" : opened.reason));
        } catch (...) {  // bad_alloc: the counter still says it
        }
        ++attempt;  // a cluster's next node
        relearn();
        pause(backoff);
        backoff = std::min(backoff * 2, options.redis.reconnect_backoff_max);
        continue;
      }
      const bool was_subscribed = session(*opened.connection);
      set_connected(false);
      opened.connection.reset();
      if (!stop.load()) {
        ++attempt;
        relearn();
      }
      if (was_subscribed) backoff = options.redis.reconnect_backoff_initial;
      if (!stop.load()) pause(was_subscribed ? std::chrono::milliseconds(0) : backoff);
    }
  }

  // One connection's life: SUBSCRIBE, then read until the connection fails or stop. Returns
  // whether it got as far as being subscribed.
  bool session(detail::Connection& connection) {
    using clock = std::chrono::steady_clock;
    if (!connection.append({"SUBSCRIBE", options.channel}) || !connection.flush()) return false;
    bool subscribed = false;
    streams.clear();  // a new subscription: whatever came before was reset anyway
    any_missing = false;
    const auto started = clock::now();
    auto last_heard = started;
    bool ping_outstanding = false;
    const auto beat = options.heartbeat_interval;

    for (;;) {
      // Replies already buffered first: poll() cannot see them.
      for (;;) {
        detail::Reply reply;
        if (!connection.buffered_reply(reply)) return subscribed;
        if (!reply) break;
        last_heard = clock::now();
        ping_outstanding = false;
        if (!handle(reply.get(), subscribed)) return subscribed;
      }
      if (stop.load()) return subscribed;
      check_gaps();

      const auto now = clock::now();
      if (!subscribed && now - started > options.redis.command_timeout) return false;
      if (ping_outstanding && now - last_heard > 2 * beat) return subscribed;  // silent: dead
      if (subscribed && !ping_outstanding && now - last_heard >= beat) {
        if (!connection.append({"PING"}) || !connection.flush()) return subscribed;
        ping_outstanding = true;
      }

      pollfd fds[2] = {{connection.fd(), POLLIN, 0}, {wake[0], POLLIN, 0}};
      const int timeout_ms = static_cast<int>(std::max<long long>(
          1, std::min<long long>(beat.count(), options.redis.command_timeout.count()) / 4));
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
        if (!connection.read_available()) return subscribed;  // EOF, reset, killed
      }
    }
  }

  // Returns false when the reply says the session is unusable.
  bool handle(const redisReply* reply, bool& subscribed) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
      if (reply->type != REDIS_REPLY_ERROR) return true;
      if (!subscribed) {
        // E.g. an ACL user without access to the channel: NOPERM. Reported, then retried.
        subscribe_failures.fetch_add(1, std::memory_order_relaxed);
        try {
          report_failure(fmt::format("invalidation bus: SUBSCRIBE {} refused by {}: {}",
                                     options.channel, detail::endpoint_of(options.redis),
                                     std::string_view(reply->str, reply->len)));
        } catch (...) {  // bad_alloc: the counter still says it
        }
      }
      return false;
    }
    const std::string_view type(reply->element[0]->str, reply->element[0]->len);
    if (type == "subscribe") {
      subscribed = true;
      subscriptions.fetch_add(1, std::memory_order_relaxed);
      // Whatever was published while we were not listening is lost: subscribers drop what
      // they may have missed. Runs after SUBSCRIBE is confirmed, so nothing falls in between,
      // and before healthy() turns true, so that a subscriber added once
      // wait_until_subscribed() returned never sees a late reset clear what it just cached.
      handlers.reset();
      set_connected(true);
      return true;
    }
    if (type == "message" && reply->elements == 3 &&
        reply->element[2]->type == REDIS_REPLY_STRING) {
      const std::string_view payload(reply->element[2]->str, reply->element[2]->len);
      std::string from;
      InvalidationMessage message;
      if (!decode_message(payload, from, message)) {
        malformed.fetch_add(1, std::memory_order_relaxed);
      } else if (from == origin) {
        ignored_own.fetch_add(1, std::memory_order_relaxed);
      } else {
        received.fetch_add(1, std::memory_order_relaxed);
        track(from, message);
        handlers.dispatch(message);
      }
    }
    return true;  // "pong" and others: only proof of life
  }
};

PubSubBus::PubSubBus(PubSubOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

PubSubBus::~PubSubBus() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop.store(true);
  }
  impl_->changed.notify_all();
  const char byte = 1;
  (void)!::write(impl_->wake[1], &byte, 1);
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::string_view PubSubBus::name() const noexcept { return "redis-pubsub"; }

void PubSubBus::publish(const InvalidationMessage& message) {
  InvalidationMessage numbered = message;
  numbered.sequence = impl_->next_number(message.scope);
  // A message that fails to go out leaves a gap at the receivers: they reset that scope.
  const std::string payload = encode_message(impl_->origin, numbered);
  const detail::Op op{"PUBLISH", detail::Op::Kind::key, impl_->options.channel};
  // Each candidate once, starting with the one that worked last; a failure moves on (cluster)
  // or learns the master again (Sentinel) before giving up.
  for (int round = 0; round < 2; ++round) {
    const auto nodes = impl_->candidates();
    const std::size_t first = impl_->preferred.load(std::memory_order_relaxed);
    for (std::size_t k = 0; k < nodes.size(); ++k) {
      const std::size_t index = (first + k) % nodes.size();
      try {
        auto lease = nodes[index]->pool.acquire(op);
        detail::Reply reply = lease->command({"PUBLISH", impl_->options.channel, payload});
        if (reply && reply->type == REDIS_REPLY_INTEGER) {
          impl_->published.fetch_add(1, std::memory_order_relaxed);
          impl_->preferred.store(index, std::memory_order_relaxed);
          return;
        }
      } catch (const ttlcache::error&) {  // unreachable, in backoff, pool timeout: next one
      }
    }
    if (impl_->options.redis.topology == Topology::standalone) break;
    impl_->relearn();
  }
  // Counted, not thrown: the write this message follows has succeeded.
  impl_->publish_failures.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t PubSubBus::subscribe(Handler on_message, ResetHandler on_reset) {
  return impl_->handlers.add(std::move(on_message), std::move(on_reset));
}

void PubSubBus::unsubscribe(std::uint64_t id) { impl_->handlers.remove(id); }

bool PubSubBus::healthy() const noexcept {
  return impl_->connected.load(std::memory_order_acquire);
}

bool PubSubBus::wait_until_subscribed(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [this] { return impl_->connected.load(); });
}

PubSubStats PubSubBus::stats() const {
  PubSubStats s;
  s.published = impl_->published.load(std::memory_order_relaxed);
  s.publish_failures = impl_->publish_failures.load(std::memory_order_relaxed);
  s.received = impl_->received.load(std::memory_order_relaxed);
  s.ignored_own = impl_->ignored_own.load(std::memory_order_relaxed);
  s.malformed = impl_->malformed.load(std::memory_order_relaxed);
  s.subscriptions = impl_->subscriptions.load(std::memory_order_relaxed);
  s.connect_failures = impl_->connect_failures.load(std::memory_order_relaxed);
  s.auth_failures = impl_->auth_failures.load(std::memory_order_relaxed);
  s.subscribe_failures = impl_->subscribe_failures.load(std::memory_order_relaxed);
  s.gaps = impl_->gaps.load(std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(impl_->failure_mutex);
    s.last_failure = impl_->last_failure;
  }
  s.connected = impl_->connected.load(std::memory_order_acquire);
  return s;
}

const std::string& PubSubBus::instance_id() const noexcept { return impl_->origin; }

}  // namespace ttlcache::redis

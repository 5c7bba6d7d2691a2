// RedisStore: the ByteStore operations as binary-safe hiredis commands over the pool.
// SPDX-License-Identifier: MIT
#include "ttlcache/redis/redis_store.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <exception>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "cluster.hpp"
#include "connection.hpp"
#include "pool.hpp"
#include "ttlcache/errors.hpp"
#include "value_format.hpp"

namespace ttlcache::redis {

std::string glob_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

using detail::Args;
using detail::ConnectionPool;
using detail::Node;
using detail::Op;
using detail::Reply;
using detail::Router;

namespace {

constexpr std::string_view backend_name = "redis";

// Creates missing stamps with the version the client drew (ARGV[i + 1]) and keeps every stamp
// alive for at least ARGV[1] ms; returns the versions. One round trip, atomic per call.
constexpr std::string_view acquire_script = R"lua(
local keep = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if not v then
    v = ARGV[i + 1]
    redis.call('SET', key, v, 'PX', keep)
  elseif redis.call('PTTL', key) < keep then
    redis.call('PEXPIRE', key, keep)
  end
  out[i] = v
end
return out
)lua";

// A version is a decimal uint64; anything else (foreign data) is unknown, i.e. 0/nullopt.
std::optional<std::uint64_t> parse_version(std::string_view text) {
  std::uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end || v == 0) return std::nullopt;
  return v;
}

// Redis refuses an expiry that overflows its clock; longer TTLs are clamped to ~2000 years.
constexpr long long max_ttl_ms = 1LL << 46;

std::string_view text_of(const redisReply* reply) {
  return reply->str ? std::string_view(reply->str, reply->len) : std::string_view();
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// "PX" argument: the TTL in decimal, written into a caller-provided buffer.
struct TtlText {
  char buffer[24];
  std::size_t size = 0;
  explicit TtlText(std::chrono::milliseconds ttl) {
    const long long ms = std::min<long long>(ttl.count(), max_ttl_ms);
    size = static_cast<std::size_t>(std::to_chars(buffer, buffer + sizeof buffer, ms).ptr - buffer);
  }
  std::string_view view() const { return std::string_view(buffer, size); }
};

}  // namespace

struct RedisStore::Impl {
  explicit Impl(RedisOptions opts)
      : options((opts.validate(), std::move(opts))),
        prefix(options.key_namespace + ":"),
        match_all(glob_escape(prefix) + "*"),
        stamp_prefix(options.key_namespace + "@stamp:"),
        router(options) {}

  const RedisOptions options;
  const std::string prefix;        // "<namespace>:"
  const std::string match_all;     // SCAN pattern for the whole namespace
  const std::string stamp_prefix;  // "<namespace>@stamp:": outside the data namespace
  Router router;
  std::atomic<std::uint64_t> corrupt{0};
  std::shared_ptr<detail::SessionSetup> session;  // set up by set_session_commands()
  std::mutex session_mutex;

  using Answer = detail::Answer;

  bool sharded() const noexcept { return options.topology == Topology::cluster; }

  std::string full_key(std::string_view key) const {
    std::string full;
    full.reserve(prefix.size() + key.size());
    full.append(prefix).append(key);
    return full;
  }

  void check_key(std::string_view key) const {
    if (key.size() > options.max_key_length) {
      throw limit_error(
          fmt::format("ttlcache redis backend: key {} is {} bytes, over the limit of {} bytes "
                      "(max_key_length); nothing was sent",
                      ttlcache::detail::printable_key(key), key.size(), options.max_key_length));
    }
  }

  void check_write(std::string_view key, std::string_view value,
                   std::chrono::milliseconds ttl) const {
    check_key(key);
    if (value.size() > options.max_value_size) {
      throw limit_error(fmt::format(
          "ttlcache redis backend: value for key {} is {} bytes, over the limit of {} bytes "
          "(max_value_size); nothing was sent",
          ttlcache::detail::printable_key(key), value.size(), options.max_value_size));
    }
    if (ttl.count() <= 0) ttlcache::detail::throw_bad_ttl(backend_name, ttl.count());
    if (options.value_format == ValueFormat::plain && detail::looks_framed(value)) {
      // It would read back as a damaged framed value (a miss): refuse it now instead.
      throw argument_error(fmt::format(
          "ttlcache redis backend: value for key {} begins with the bytes F5 54 43, which the "
          "plain value format reserves for framed values; nothing was sent",
          ttlcache::detail::printable_key(key)));
    }
  }

  [[noreturn]] static void fail(const Node& node, const ConnectionPool::Lease& lease,
                                const Op& op) {
    detail::throw_failure(lease->failure(), op, node.endpoint, lease->failure_text());
  }

  [[noreturn]] static void reply_error(const Node& node, const Op& op, const redisReply* reply) {
    if (reply->type == REDIS_REPLY_ERROR) {
      detail::throw_reply_error(op, node.endpoint,
                                fmt::format("the server replied {}", text_of(reply)));
    }
    detail::throw_reply_error(op, node.endpoint,
                              fmt::format("unexpected reply of type {}", reply->type));
  }
  [[noreturn]] static void reply_error(const Answer& answer, const Op& op) {
    reply_error(*answer.node, op, answer.reply.get());
  }

  // The reply to a multi-key stamp command (MGET, the acquire script): one element per name,
  // each a version or not. Anything else is a reply error naming the operation.
  static std::vector<std::optional<std::uint64_t>> versions_of(const Node& node,
                                                               const redisReply* reply,
                                                               std::size_t count, const Op& op) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != count) {
      reply_error(node, op, reply);
    }
    std::vector<std::optional<std::uint64_t>> out(count);
    for (std::size_t i = 0; i < count; ++i) {
      const redisReply* element = reply->element[i];
      if (element->type == REDIS_REPLY_STRING) out[i] = parse_version(text_of(element));
    }
    return out;
  }

  // Reads count pipelined replies that should each be a status (+OK). The pipeline is drained
  // even after an error reply, so the connection stays in step; the first error is thrown.
  static void drain_status(const Node& node, ConnectionPool::Lease& lease, std::size_t count,
                           const Op& op) {
    Reply error;
    for (std::size_t i = 0; i < count; ++i) {
      Reply reply = lease->read_reply();
      if (!reply) fail(node, lease, op);
      if (reply->type != REDIS_REPLY_STATUS && !error) error = std::move(reply);
    }
    if (error) reply_error(node, op, error.get());
  }

  // The bytes stored for value: framed (header + value, in buffer) or the value itself.
  std::string_view encode(std::string& buffer, std::string_view value) const {
    if (options.value_format == ValueFormat::plain) return value;
    detail::wrap_value(buffer, value, options.checksum);
    return buffer;
  }

  // Bytes under our key that are not one of our values: a miss, counted, never an exception.
  // Plain format: any bytes are a value (the codec judges them), except framed ones, which
  // are unwrapped (a store switched to plain still reads what it wrote before) or, damaged,
  // a counted miss. 0xF5 never starts UTF-8 text, so JSON is never mistaken for a header.
  std::optional<std::string> decode(const redisReply* reply) {
    const std::string_view stored = text_of(reply);
    if (options.value_format == ValueFormat::plain && !detail::looks_framed(stored)) {
      return std::string(stored);
    }
    std::optional<std::string_view> payload = detail::unwrap_value(stored);
    if (!payload) {
      corrupt.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    return std::string(*payload);
  }

  // A GET reply: nil is a miss, foreign bytes or a foreign type a counted miss.
  std::optional<std::string> value_of(const Answer& answer, const Op& op) {
    const redisReply* reply = answer.reply.get();
    switch (reply->type) {
      case REDIS_REPLY_NIL:
        return std::nullopt;
      case REDIS_REPLY_STRING:
        return decode(reply);
      case REDIS_REPLY_ERROR:
        // A list or hash someone else put under our key is foreign data like any other.
        if (starts_with(text_of(reply), "WRONGTYPE")) {
          corrupt.fetch_add(1, std::memory_order_relaxed);
          return std::nullopt;
        }
        [[fallthrough]];
      default:
        reply_error(answer, op);
    }
  }

  // Runs f(node) on the one master (standalone, sentinel); after a failure, when the
  // Sentinels name another master, runs it again there (our batches are idempotent).
  template <class F>
  auto on_master(F&& f) {
    for (int attempt = 0;; ++attempt) {
      std::shared_ptr<Node> node = router.node_for_key({});
      try {
        return f(node);
      } catch (const backend_error&) {
        if (attempt < options.max_redirects && router.changed_after_failure(*node, {})) continue;
        throw;
      }
    }
  }

  // Cluster batches: one single-key command per item (build(i, args) fills its arguments),
  // grouped by the node owning the key; one pipeline per node, the nodes in parallel; replies
  // in the caller's order. Items redirected, refused during a failover, or on a node whose
  // connection failed are then sent one by one through Router::run_key, which follows the
  // cluster.
  std::vector<Answer> run_batch(const std::vector<std::string_view>& fulls, std::size_t user_prefix,
                                const Op& op,
                                const std::function<void(std::size_t, Args&)>& build) {
    std::vector<Answer> out(fulls.size());
    std::vector<char> retry(fulls.size(), 0);
    std::vector<std::pair<std::shared_ptr<Node>, std::vector<std::size_t>>> groups;
    for (std::size_t i = 0; i < fulls.size(); ++i) {
      std::shared_ptr<Node> node = router.node_for_key(fulls[i]);
      auto group = std::find_if(groups.begin(), groups.end(),
                                [&](const auto& g) { return g.first == node; });
      if (group == groups.end()) {
        groups.emplace_back(std::move(node), std::vector<std::size_t>{});
        group = std::prev(groups.end());
      }
      group->second.push_back(i);
    }
    std::vector<std::exception_ptr> errors(groups.size());
    auto run_group = [&](std::size_t g) {
      const std::shared_ptr<Node>& node = groups[g].first;
      const std::vector<std::size_t>& items = groups[g].second;
      std::size_t done = 0;  // items answered or marked for retry
      try {
        auto lease = node->pool.acquire(op);
        Args args;
        for (std::size_t start = 0; start < items.size(); start += options.batch_chunk) {
          const std::size_t end = std::min(start + options.batch_chunk, items.size());
          for (std::size_t k = start; k < end; ++k) {
            args.clear();
            build(items[k], args);
            if (!lease->append(args)) break;
          }
          for (; done < end; ++done) {
            Reply reply = lease->read_reply();
            if (!reply) break;
            const std::size_t i = items[done];
            if (reply->type == REDIS_REPLY_ERROR &&
                (detail::parse_redirect(text_of(reply.get())).kind !=
                     detail::Redirect::Kind::none ||
                 detail::topology_error(text_of(reply.get())))) {
              retry[i] = 1;
            } else {
              out[i] = Answer{std::move(reply), node};
            }
          }
          if (lease->broken()) break;
        }
      } catch (const backend_error&) {
        // Could not get a connection: every item goes the one-by-one way below.
      } catch (...) {
        errors[g] = std::current_exception();
      }
      for (; done < items.size(); ++done) retry[items[done]] = 1;
    };
    if (groups.size() > 1) {
      std::vector<std::thread> threads;
      threads.reserve(groups.size() - 1);
      try {
        for (std::size_t g = 1; g < groups.size(); ++g) threads.emplace_back(run_group, g);
      } catch (...) {
        for (auto& t : threads) t.join();
        throw;
      }
      run_group(0);
      for (auto& t : threads) t.join();
    } else if (!groups.empty()) {
      run_group(0);
    }
    for (const auto& e : errors) {
      if (e) std::rethrow_exception(e);
    }
    Args args;
    for (std::size_t i = 0; i < fulls.size(); ++i) {
      if (!retry[i]) continue;
      args.clear();
      build(i, args);
      const Op key_op{op.command, Op::Kind::key, fulls[i].substr(user_prefix)};
      out[i] = router.run_key(fulls[i], key_op, args);
    }
    return out;
  }

  long long integer_command(std::string_view command, std::string_view key) {
    const std::string full = full_key(key);
    const Op op{command, Op::Kind::key, key};
    Answer answer = router.run_key(full, op, {command, full});
    if (answer.reply->type != REDIS_REPLY_INTEGER) reply_error(answer, op);
    return answer.reply->integer;
  }

  // SCAN MATCH pattern over one node's keyspace; each batch found is UNLINKed (unlink) or
  // counted into seen. A fresh lease per batch lets other callers use the connection in
  // between. On a cluster node the keys of one batch lie in many slots, so they are unlinked
  // one per command (pipelined) rather than in one multi-key UNLINK.
  std::size_t scan(Node& node, const std::string& pattern, const Op& op, bool unlink,
                   std::unordered_set<std::size_t>& seen) const {
    const std::string count = std::to_string(options.scan_count);
    std::string cursor = "0";
    std::size_t removed = 0;
    Args args;
    do {
      auto lease = node.pool.acquire(op);
      Reply reply = lease->command({"SCAN", cursor, "MATCH", pattern, "COUNT", count});
      if (!reply) fail(node, lease, op);
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
          reply->element[0]->type != REDIS_REPLY_STRING ||
          reply->element[1]->type != REDIS_REPLY_ARRAY) {
        reply_error(node, op, reply.get());
      }
      cursor.assign(text_of(reply->element[0]));
      const redisReply* keys = reply->element[1];
      if (keys->elements == 0) continue;
      if (!unlink) {
        // SCAN may return a key twice (while the server rehashes), so counting dedupes by
        // hash: 8 bytes per key rather than the key itself.
        for (std::size_t i = 0; i < keys->elements; ++i) {
          seen.insert(std::hash<std::string_view>{}(text_of(keys->element[i])));
        }
      } else if (sharded()) {
        for (std::size_t i = 0; i < keys->elements; ++i) {
          if (!lease->append({"UNLINK", text_of(keys->element[i])})) fail(node, lease, op);
        }
        for (std::size_t i = 0; i < keys->elements; ++i) {
          Reply unlinked = lease->read_reply();
          if (!unlinked) fail(node, lease, op);
          // A key migrating away meanwhile (MOVED/ASK) is the other node's to remove.
          if (unlinked->type == REDIS_REPLY_INTEGER) {
            removed += static_cast<std::size_t>(unlinked->integer);
          } else if (detail::parse_redirect(text_of(unlinked.get())).kind ==
                     detail::Redirect::Kind::none) {
            reply_error(node, op, unlinked.get());
          }
        }
      } else {
        args.clear();
        args.reserve(keys->elements + 1);
        args.add("UNLINK");
        for (std::size_t i = 0; i < keys->elements; ++i) args.add(text_of(keys->element[i]));
        Reply unlinked = lease->command(args);
        if (!unlinked) fail(node, lease, op);
        if (unlinked->type != REDIS_REPLY_INTEGER) reply_error(node, op, unlinked.get());
        removed += static_cast<std::size_t>(unlinked->integer);
      }
    } while (cursor != "0");
    return removed;
  }

  // Every master (a cluster's all of them), one after the other.
  std::size_t scan_all(const std::string& pattern, const Op& op, bool unlink) {
    std::unordered_set<std::size_t> seen;
    std::size_t removed = 0;
    if (sharded()) {
      for (const auto& node : router.masters()) removed += scan(*node, pattern, op, unlink, seen);
    } else {
      removed = on_master([&](const std::shared_ptr<Node>& node) {
        seen.clear();
        return scan(*node, pattern, op, unlink, seen);
      });
    }
    return unlink ? removed : seen.size();
  }

  // A command for every master (PING, INFO); the replies in the masters' order.
  std::vector<Answer> on_every_master(std::initializer_list<std::string_view> args,
                                      std::string_view what) {
    const Op op{what, Op::Kind::server};
    std::vector<Answer> out;
    auto send = [&](Node& node, std::shared_ptr<Node> keep) {
      auto lease = node.pool.acquire(op);
      Reply reply = lease->command(args);
      if (!reply) fail(node, lease, op);
      if (reply->type == REDIS_REPLY_ERROR) reply_error(node, op, reply.get());
      out.push_back(Answer{std::move(reply), std::move(keep)});
    };
    if (sharded()) {
      for (const auto& node : router.masters()) send(*node, node);
    } else {
      on_master([&](const std::shared_ptr<Node>& node) {
        out.clear();
        send(*node, node);
        return 0;
      });
    }
    return out;
  }
};

RedisStore::RedisStore(RedisOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  if (impl_->options.connect_on_start) {
    // Learns the topology, then opens one connection per master; they stay in the pools for
    // the first calls.
    const Op op{"connect", Op::Kind::server};
    for (const auto& node : impl_->router.masters()) auto lease = node->pool.acquire(op);
  }
}

RedisStore::RedisStore(std::string_view url, std::string key_namespace)
    : RedisStore([&] {
        RedisOptions options = RedisOptions::from_url(url);
        options.key_namespace = std::move(key_namespace);
        return options;
      }()) {}

RedisStore::~RedisStore() = default;

std::string_view RedisStore::name() const noexcept { return backend_name; }

const RedisOptions& RedisStore::options() const noexcept { return impl_->options; }

void RedisStore::set_session_commands(std::vector<std::vector<std::string>> commands) {
  if (impl_->options.topology != Topology::standalone) {
    throw config_error("topology",
                       "per-connection session commands (the near cache's CLIENT TRACKING) "
                       "need a standalone server");
  }
  std::lock_guard<std::mutex> lock(impl_->session_mutex);
  if (!impl_->session) {
    impl_->session = std::make_shared<detail::SessionSetup>();
    impl_->session->set(std::move(commands));
    for (const auto& node : impl_->router.masters()) node->pool.set_session_setup(impl_->session);
  } else {
    impl_->session->set(std::move(commands));
  }
}

std::optional<std::string> RedisStore::get(std::string_view key) {
  impl_->check_key(key);
  const std::string full = impl_->full_key(key);
  const Op op{"GET", Op::Kind::key, key};
  return impl_->value_of(impl_->router.run_key(full, op, {"GET", full}), op);
}

void RedisStore::set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) {
  impl_->check_write(key, value, ttl);
  const std::string full = impl_->full_key(key);
  std::string wrapped;
  const std::string_view stored = impl_->encode(wrapped, value);
  const TtlText ttl_text(ttl);
  const Op op{"SET", Op::Kind::key, key};
  auto answer = impl_->router.run_key(full, op, {"SET", full, stored, "PX", ttl_text.view()});
  if (answer.reply->type != REDIS_REPLY_STATUS) Impl::reply_error(answer, op);
}

bool RedisStore::erase(std::string_view key) {
  impl_->check_key(key);
  return impl_->integer_command("UNLINK", key) > 0;
}

bool RedisStore::contains(std::string_view key) {
  impl_->check_key(key);
  return impl_->integer_command("EXISTS", key) > 0;
}

std::optional<std::chrono::milliseconds> RedisStore::ttl(std::string_view key) {
  impl_->check_key(key);
  // -2: no such key; -1: a key without expiry, which ttlcache never writes.
  const long long ms = impl_->integer_command("PTTL", key);
  if (ms < 0) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

std::vector<std::optional<std::string>> RedisStore::get_many(const std::vector<std::string>& keys) {
  if (keys.empty()) return {};
  for (const auto& key : keys) impl_->check_key(key);

  // All full keys in one buffer (one allocation, not one per key); args point into it.
  std::size_t total = 0;
  for (const auto& key : keys) total += impl_->prefix.size() + key.size();
  std::string full;
  full.reserve(total);
  for (const auto& key : keys) full.append(impl_->prefix).append(key);
  const Op op{"MGET", Op::Kind::batch, keys.front(), keys.size()};

  if (impl_->sharded()) {
    // MGET needs every key in one slot; a cluster batch is single-key GETs, pipelined per node.
    std::vector<std::string_view> fulls;
    fulls.reserve(keys.size());
    std::size_t offset = 0;
    for (const auto& key : keys) {
      const std::size_t length = impl_->prefix.size() + key.size();
      fulls.push_back(std::string_view(full).substr(offset, length));
      offset += length;
    }
    const Op get_op{"GET", Op::Kind::batch, keys.front(), keys.size()};
    auto answers =
        impl_->run_batch(fulls, impl_->prefix.size(), get_op, [&](std::size_t i, Args& args) {
          args.add("GET");
          args.add(fulls[i]);
        });
    std::vector<std::optional<std::string>> out(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) out[i] = impl_->value_of(answers[i], get_op);
    return out;
  }

  const std::size_t chunk = impl_->options.batch_chunk;
  return impl_->on_master([&](const std::shared_ptr<Node>& node) {
    std::vector<std::optional<std::string>> result(keys.size());
    auto lease = node->pool.acquire(op);
    // Every chunk is queued first, so the whole batch costs one round trip.
    Args args;
    args.reserve(std::min(chunk, keys.size()) + 1);
    std::size_t offset = 0;
    for (std::size_t start = 0; start < keys.size(); start += chunk) {
      args.clear();
      args.add("MGET");
      const std::size_t end = std::min(start + chunk, keys.size());
      for (std::size_t i = start; i < end; ++i) {
        const std::size_t length = impl_->prefix.size() + keys[i].size();
        args.add(std::string_view(full).substr(offset, length));
        offset += length;
      }
      if (!lease->append(args)) Impl::fail(*node, lease, op);
    }
    Reply error;
    for (std::size_t start = 0; start < keys.size(); start += chunk) {
      Reply reply = lease->read_reply();
      if (!reply) Impl::fail(*node, lease, op);
      const std::size_t end = std::min(start + chunk, keys.size());
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != end - start) {
        if (!error) error = std::move(reply);  // keep reading: the pipeline must be drained
        continue;
      }
      for (std::size_t i = start; i < end; ++i) {
        const redisReply* element = reply->element[i - start];
        if (element->type == REDIS_REPLY_STRING) result[i] = impl_->decode(element);
      }
    }
    if (error) Impl::reply_error(*node, op, error.get());
    return result;
  });
}

void RedisStore::set_many(const std::vector<Write>& items) {
  if (items.empty()) return;
  for (const auto& item : items) impl_->check_write(item.key, item.value, item.ttl);

  const Op op{"SET", Op::Kind::batch, items.front().key, items.size()};
  if (impl_->sharded()) {
    std::vector<std::string> fulls;
    std::vector<std::string> wrapped(items.size());
    std::vector<TtlText> ttls;
    fulls.reserve(items.size());
    ttls.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      fulls.push_back(impl_->full_key(items[i].key));
      if (impl_->options.value_format == ValueFormat::plain) {
        wrapped[i] = items[i].value;
      } else {
        detail::wrap_value(wrapped[i], items[i].value, impl_->options.checksum);
      }
      ttls.emplace_back(items[i].ttl);
    }
    const std::vector<std::string_view> views(fulls.begin(), fulls.end());
    auto answers =
        impl_->run_batch(views, impl_->prefix.size(), op, [&](std::size_t i, Args& args) {
          args.add("SET");
          args.add(views[i]);
          args.add(wrapped[i]);
          args.add("PX");
          args.add(ttls[i].view());
        });
    for (const auto& answer : answers) {
      if (answer.reply->type != REDIS_REPLY_STATUS) Impl::reply_error(answer, op);
    }
    return;
  }

  impl_->on_master([&](const std::shared_ptr<Node>& node) {
    auto lease = node->pool.acquire(op);
    std::string full;
    std::string wrapped;
    // Every SET is queued first and the replies read after: one round trip for the batch, as
    // in get_many. The output buffer then holds the whole batch once (about the caller's own
    // bytes); Redis answers as it reads, so nothing waits on the other side.
    for (const auto& item : items) {
      full.assign(impl_->prefix).append(item.key);
      const std::string_view stored = impl_->encode(wrapped, item.value);
      const TtlText ttl_text(item.ttl);
      // append() copies the arguments into hiredis's buffer, so the strings can be reused.
      if (!lease->append({"SET", full, stored, "PX", ttl_text.view()})) {
        Impl::fail(*node, lease, op);
      }
    }
    Impl::drain_status(*node, lease, items.size(), op);
    return 0;
  });
}

std::size_t RedisStore::erase_prefix(std::string_view literal_prefix) {
  impl_->check_key(literal_prefix);
  const std::string pattern =
      impl_->match_all.substr(0, impl_->match_all.size() - 1) + glob_escape(literal_prefix) + "*";
  return impl_->scan_all(pattern, Op{"SCAN+UNLINK", Op::Kind::prefix, literal_prefix}, true);
}

std::size_t RedisStore::erase_pattern(const KeyPattern& pattern) {
  std::string glob = impl_->match_all.substr(0, impl_->match_all.size() - 1);
  for (const auto& part : pattern.parts()) {
    if (!part.wildcard) {
      impl_->check_key(part.text);
      glob += glob_escape(part.text);  // user text never acts as glob syntax
    } else {
      glob += part.kind == KeyPattern::Wildcard::any_run ? '*' : '?';
    }
  }
  const std::string shown = pattern.to_string();
  return impl_->scan_all(glob, Op{"SCAN+UNLINK", Op::Kind::prefix, shown}, true);
}

void RedisStore::clear() {
  impl_->scan_all(impl_->match_all, Op{"SCAN+UNLINK", Op::Kind::space}, true);
}

std::size_t RedisStore::size() {
  return impl_->scan_all(impl_->match_all, Op{"SCAN", Op::Kind::space}, false);
}

std::string RedisStore::stamp_key(std::string_view name) const {
  std::string key = impl_->stamp_prefix;
  key.append(name);
  return key;
}

std::vector<std::optional<std::uint64_t>> RedisStore::read_stamps(
    const std::vector<std::string>& names) {
  if (names.empty()) return {};
  for (const auto& name : names) impl_->check_key(name);
  std::vector<std::string> keys;
  keys.reserve(names.size());
  for (const auto& name : names) keys.push_back(stamp_key(name));
  const Op op{"MGET stamps", Op::Kind::batch, names.front(), names.size()};
  if (impl_->sharded()) {
    // Stamps spread over the slots like data; a read is one GET per name, pipelined per node.
    const std::vector<std::string_view> views(keys.begin(), keys.end());
    const Op get_op{"GET stamps", Op::Kind::batch, names.front(), names.size()};
    auto answers =
        impl_->run_batch(views, impl_->stamp_prefix.size(), get_op, [&](std::size_t i, Args& args) {
          args.add("GET");
          args.add(views[i]);
        });
    std::vector<std::optional<std::uint64_t>> out(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      const redisReply* reply = answers[i].reply.get();
      if (reply->type == REDIS_REPLY_STRING) {
        out[i] = parse_version(text_of(reply));
      } else if (reply->type != REDIS_REPLY_NIL) {
        Impl::reply_error(answers[i], get_op);
      }
    }
    return out;
  }
  Args args;
  args.reserve(keys.size() + 1);
  args.add("MGET");
  for (const auto& key : keys) args.add(key);
  return impl_->on_master([&](const std::shared_ptr<Node>& node) {
    auto lease = node->pool.acquire(op);
    Reply reply = lease->command(args);
    if (!reply) Impl::fail(*node, lease, op);
    return Impl::versions_of(*node, reply.get(), names.size(), op);
  });
}

std::vector<std::uint64_t> RedisStore::acquire_stamps(const std::vector<std::string>& names,
                                                      std::chrono::milliseconds keep_alive) {
  std::vector<std::uint64_t> out(names.size());
  if (names.empty()) return out;
  if (keep_alive.count() <= 0) ttlcache::detail::throw_bad_ttl(backend_name, keep_alive.count());
  for (const auto& name : names) impl_->check_key(name);
  std::vector<std::string> keys;
  std::vector<std::string> fresh;
  keys.reserve(names.size());
  fresh.reserve(names.size());
  for (const auto& name : names) {
    keys.push_back(stamp_key(name));
    fresh.push_back(std::to_string(ttlcache::detail::random_version()));
  }
  const TtlText keep(keep_alive);
  const Op op{"EVAL acquire stamps", Op::Kind::batch, names.front(), names.size()};
  if (impl_->sharded()) {
    // The script may only touch keys of one slot: one EVAL per name (atomic per name, which is
    // what create-if-missing needs), pipelined per node.
    const std::vector<std::string_view> views(keys.begin(), keys.end());
    auto answers =
        impl_->run_batch(views, impl_->stamp_prefix.size(), op, [&](std::size_t i, Args& args) {
          args.add("EVAL");
          args.add(acquire_script);
          args.add("1");
          args.add(views[i]);
          args.add(keep.view());
          args.add(fresh[i]);
        });
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto versions = Impl::versions_of(*answers[i].node, answers[i].reply.get(), 1, op);
      out[i] = versions[0].value_or(0);
    }
    return out;
  }
  const std::string count = std::to_string(names.size());
  Args args;
  args.reserve(2 * names.size() + 4);
  args.add("EVAL");
  args.add(acquire_script);
  args.add(count);
  for (const auto& key : keys) args.add(key);
  args.add(keep.view());
  for (const auto& v : fresh) args.add(v);
  const auto versions = impl_->on_master([&](const std::shared_ptr<Node>& node) {
    auto lease = node->pool.acquire(op);
    Reply reply = lease->command(args);
    if (!reply) Impl::fail(*node, lease, op);
    return Impl::versions_of(*node, reply.get(), names.size(), op);
  });
  // 0 is never a valid version: an entry stamped with it is a miss (fail safe).
  for (std::size_t i = 0; i < names.size(); ++i) out[i] = versions[i].value_or(0);
  return out;
}

std::vector<std::uint64_t> RedisStore::bump_stamps(const std::vector<std::string>& names,
                                                   std::chrono::milliseconds keep_alive) {
  std::vector<std::uint64_t> out(names.size());
  if (names.empty()) return out;
  if (keep_alive.count() <= 0) ttlcache::detail::throw_bad_ttl(backend_name, keep_alive.count());
  for (const auto& name : names) impl_->check_key(name);
  const TtlText keep(keep_alive);
  const Op op{"SET stamps", Op::Kind::batch, names.front(), names.size()};
  std::vector<std::string> keys;
  std::vector<std::string> versions;
  keys.reserve(names.size());
  versions.reserve(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    out[i] = ttlcache::detail::random_version();
    keys.push_back(stamp_key(names[i]));
    versions.push_back(std::to_string(out[i]));
  }
  if (impl_->sharded()) {
    const std::vector<std::string_view> views(keys.begin(), keys.end());
    auto answers =
        impl_->run_batch(views, impl_->stamp_prefix.size(), op, [&](std::size_t i, Args& args) {
          args.add("SET");
          args.add(views[i]);
          args.add(versions[i]);
          args.add("PX");
          args.add(keep.view());
        });
    for (const auto& answer : answers) {
      if (answer.reply->type != REDIS_REPLY_STATUS) Impl::reply_error(answer, op);
    }
    return out;
  }
  impl_->on_master([&](const std::shared_ptr<Node>& node) {
    auto lease = node->pool.acquire(op);
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (!lease->append({"SET", keys[i], versions[i], "PX", keep.view()})) {
        Impl::fail(*node, lease, op);
      }
    }
    Impl::drain_status(*node, lease, names.size(), op);
    return 0;
  });
  return out;
}

void RedisStore::ping() { impl_->on_every_master({"PING"}, "PING"); }

std::uint64_t RedisStore::used_memory() {
  const Op op{"INFO memory", Op::Kind::server};
  std::uint64_t sum = 0;
  for (const auto& answer : impl_->on_every_master({"INFO", "memory"}, "INFO memory")) {
    const redisReply* reply = answer.reply.get();
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS) {
      Impl::reply_error(answer, op);
    }
    std::string_view text = text_of(reply);
    constexpr std::string_view field = "used_memory:";
    // The field must start a line: "used_memory_rss:" and friends share the prefix.
    std::size_t pos = 0;
    while ((pos = text.find(field, pos)) != std::string_view::npos) {
      if (pos == 0 || text[pos - 1] == '\n') break;
      pos += field.size();
    }
    if (pos == std::string_view::npos) {
      detail::throw_reply_error(op, answer.node->endpoint, "no used_memory field in the reply");
    }
    std::uint64_t bytes = 0;
    const char* begin = text.data() + pos + field.size();
    auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), bytes);
    if (ec != std::errc() || ptr == begin) {
      detail::throw_reply_error(op, answer.node->endpoint, "used_memory is not a number");
    }
    sum += bytes;
  }
  return sum;
}

std::uint64_t RedisStore::corrupt_values() const noexcept {
  return impl_->corrupt.load(std::memory_order_relaxed);
}

RedisStats RedisStore::stats() const {
  RedisStats stats;
  stats.corrupt_values = corrupt_values();
  for (const auto& node : impl_->router.all_nodes()) {
    const auto counters = node->pool.counters();
    stats.connects += counters.connects;
    stats.connect_failures += counters.connect_failures;
    stats.discarded += counters.discarded;
    stats.pool_timeouts += counters.pool_timeouts;
    stats.open_connections += counters.open;
    stats.idle_connections += counters.idle;
  }
  stats.topology_refreshes = impl_->router.refreshes();
  stats.redirections = impl_->router.redirections();
  return stats;
}

const std::string& RedisStore::key_namespace() const noexcept {
  return impl_->options.key_namespace;
}

std::string RedisStore::describe() const { return impl_->options.describe(); }

}  // namespace ttlcache::redis

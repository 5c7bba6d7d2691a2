// RedisStore: the ByteStore operations as binary-safe hiredis commands over the pool.
// SPDX-License-Identifier: MIT
#include "ttlcache/redis/redis_store.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <functional>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

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
using detail::Op;
using detail::Reply;

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
        endpoint(detail::endpoint_of(options)),
        pool(options, endpoint) {}

  const RedisOptions options;
  const std::string prefix;        // "<namespace>:"
  const std::string match_all;     // SCAN pattern for the whole namespace
  const std::string stamp_prefix;  // "<namespace>@stamp:": outside the data namespace
  const std::string endpoint;
  ConnectionPool pool;
  std::atomic<std::uint64_t> corrupt{0};

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
  }

  [[noreturn]] void fail(const ConnectionPool::Lease& lease, const Op& op) const {
    detail::throw_failure(lease->failure(), op, endpoint, lease->failure_text());
  }

  [[noreturn]] void reply_error(const Op& op, const redisReply* reply) const {
    if (reply->type == REDIS_REPLY_ERROR) {
      detail::throw_reply_error(op, endpoint, fmt::format("the server replied {}", text_of(reply)));
    }
    detail::throw_reply_error(op, endpoint,
                              fmt::format("unexpected reply of type {}", reply->type));
  }

  // The reply to a multi-key stamp command (MGET, the acquire script): one element per name,
  // each a version or not. Anything else is a reply error naming the operation.
  std::vector<std::optional<std::uint64_t>> versions_of(const redisReply* reply, std::size_t count,
                                                        const Op& op) const {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != count) reply_error(op, reply);
    std::vector<std::optional<std::uint64_t>> out(count);
    for (std::size_t i = 0; i < count; ++i) {
      const redisReply* element = reply->element[i];
      if (element->type == REDIS_REPLY_STRING) out[i] = parse_version(text_of(element));
    }
    return out;
  }

  // Reads count pipelined replies that should each be a status (+OK). The pipeline is drained
  // even after an error reply, so the connection stays in step; the first error is thrown.
  void drain_status(ConnectionPool::Lease& lease, std::size_t count, const Op& op) const {
    Reply error;
    for (std::size_t i = 0; i < count; ++i) {
      Reply reply = lease->read_reply();
      if (!reply) fail(lease, op);
      if (reply->type != REDIS_REPLY_STATUS && !error) error = std::move(reply);
    }
    if (error) reply_error(op, error.get());
  }

  // Bytes under our key that are not one of our values: a miss, counted, never an exception.
  std::optional<std::string> decode(const redisReply* reply) {
    std::optional<std::string_view> payload = detail::unwrap_value(text_of(reply));
    if (!payload) {
      corrupt.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    return std::string(*payload);
  }

  long long integer_command(std::string_view command, std::string_view key) {
    const std::string full = full_key(key);
    const Op op{command, Op::Kind::key, key};
    auto lease = pool.acquire(op);
    Reply reply = lease->command({command, full});
    if (!reply) fail(lease, op);
    if (reply->type != REDIS_REPLY_INTEGER) reply_error(op, reply.get());
    return reply->integer;
  }

  // SCAN MATCH pattern over the whole keyspace; each batch found is UNLINKed (unlink) or
  // counted. A fresh lease per batch lets other callers use the connection in between.
  std::size_t scan(const std::string& pattern, const Op& op, bool unlink) {
    const std::string count = std::to_string(options.scan_count);
    std::string cursor = "0";
    std::size_t removed = 0;
    // SCAN may return a key twice (while the server rehashes), so counting dedupes by hash:
    // 8 bytes per key rather than the key itself.
    std::unordered_set<std::size_t> seen;
    Args args;
    do {
      auto lease = pool.acquire(op);
      Reply reply = lease->command({"SCAN", cursor, "MATCH", pattern, "COUNT", count});
      if (!reply) fail(lease, op);
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
          reply->element[0]->type != REDIS_REPLY_STRING ||
          reply->element[1]->type != REDIS_REPLY_ARRAY) {
        reply_error(op, reply.get());
      }
      cursor.assign(text_of(reply->element[0]));
      const redisReply* keys = reply->element[1];
      if (keys->elements == 0) continue;
      if (unlink) {
        args.clear();
        args.reserve(keys->elements + 1);
        args.add("UNLINK");
        for (std::size_t i = 0; i < keys->elements; ++i) args.add(text_of(keys->element[i]));
        Reply unlinked = lease->command(args);
        if (!unlinked) fail(lease, op);
        if (unlinked->type != REDIS_REPLY_INTEGER) reply_error(op, unlinked.get());
        removed += static_cast<std::size_t>(unlinked->integer);
      } else {
        for (std::size_t i = 0; i < keys->elements; ++i) {
          seen.insert(std::hash<std::string_view>{}(text_of(keys->element[i])));
        }
      }
    } while (cursor != "0");
    return unlink ? removed : seen.size();
  }

  Reply server_command(std::initializer_list<std::string_view> args, std::string_view what) {
    const Op op{what, Op::Kind::server};
    auto lease = pool.acquire(op);
    Reply reply = lease->command(args);
    if (!reply) fail(lease, op);
    if (reply->type == REDIS_REPLY_ERROR) reply_error(op, reply.get());
    return reply;
  }
};

RedisStore::RedisStore(RedisOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  if (impl_->options.connect_on_start) {
    // The first lease opens a connection and keeps it in the pool for the first call.
    auto lease = impl_->pool.acquire(Op{"connect", Op::Kind::server});
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

std::optional<std::string> RedisStore::get(std::string_view key) {
  impl_->check_key(key);
  const std::string full = impl_->full_key(key);
  const Op op{"GET", Op::Kind::key, key};
  auto lease = impl_->pool.acquire(op);
  Reply reply = lease->command({"GET", full});
  if (!reply) impl_->fail(lease, op);
  switch (reply->type) {
    case REDIS_REPLY_NIL:
      return std::nullopt;
    case REDIS_REPLY_STRING:
      return impl_->decode(reply.get());
    case REDIS_REPLY_ERROR:
      // A list or hash someone else put under our key is foreign data like any other.
      if (starts_with(text_of(reply.get()), "WRONGTYPE")) {
        impl_->corrupt.fetch_add(1, std::memory_order_relaxed);
        return std::nullopt;
      }
      [[fallthrough]];
    default:
      impl_->reply_error(op, reply.get());
  }
}

void RedisStore::set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) {
  impl_->check_write(key, value, ttl);
  const std::string full = impl_->full_key(key);
  std::string wrapped;
  detail::wrap_value(wrapped, value, impl_->options.checksum);
  const TtlText ttl_text(ttl);
  const Op op{"SET", Op::Kind::key, key};
  auto lease = impl_->pool.acquire(op);
  Reply reply = lease->command({"SET", full, wrapped, "PX", ttl_text.view()});
  if (!reply) impl_->fail(lease, op);
  if (reply->type != REDIS_REPLY_STATUS) impl_->reply_error(op, reply.get());
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
  std::vector<std::optional<std::string>> out(keys.size());
  if (keys.empty()) return out;
  for (const auto& key : keys) impl_->check_key(key);

  // All full keys in one buffer (one allocation, not one per key); args point into it.
  std::size_t total = 0;
  for (const auto& key : keys) total += impl_->prefix.size() + key.size();
  std::string full;
  full.reserve(total);
  for (const auto& key : keys) full.append(impl_->prefix).append(key);

  const Op op{"MGET", Op::Kind::batch, keys.front(), keys.size()};
  const std::size_t chunk = impl_->options.batch_chunk;
  auto lease = impl_->pool.acquire(op);
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
    if (!lease->append(args)) impl_->fail(lease, op);
  }
  Reply error;
  for (std::size_t start = 0; start < keys.size(); start += chunk) {
    Reply reply = lease->read_reply();
    if (!reply) impl_->fail(lease, op);
    const std::size_t end = std::min(start + chunk, keys.size());
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != end - start) {
      if (!error) error = std::move(reply);  // keep reading: the pipeline must be drained
      continue;
    }
    for (std::size_t i = start; i < end; ++i) {
      const redisReply* element = reply->element[i - start];
      if (element->type == REDIS_REPLY_STRING) out[i] = impl_->decode(element);
    }
  }
  if (error) impl_->reply_error(op, error.get());
  return out;
}

void RedisStore::set_many(const std::vector<Write>& items) {
  if (items.empty()) return;
  for (const auto& item : items) impl_->check_write(item.key, item.value, item.ttl);

  const Op op{"SET", Op::Kind::batch, items.front().key, items.size()};
  const std::size_t chunk = impl_->options.batch_chunk;
  auto lease = impl_->pool.acquire(op);
  std::string full;
  std::string wrapped;
  // One pipeline per chunk bounds the memory the output buffer holds at once.
  for (std::size_t start = 0; start < items.size(); start += chunk) {
    const std::size_t end = std::min(start + chunk, items.size());
    for (std::size_t i = start; i < end; ++i) {
      full.assign(impl_->prefix).append(items[i].key);
      detail::wrap_value(wrapped, items[i].value, impl_->options.checksum);
      const TtlText ttl_text(items[i].ttl);
      // append() copies the arguments into hiredis's buffer, so the strings can be reused.
      if (!lease->append({"SET", full, wrapped, "PX", ttl_text.view()})) impl_->fail(lease, op);
    }
    impl_->drain_status(lease, end - start, op);
  }
}

std::size_t RedisStore::erase_prefix(std::string_view literal_prefix) {
  impl_->check_key(literal_prefix);
  const std::string pattern =
      impl_->match_all.substr(0, impl_->match_all.size() - 1) + glob_escape(literal_prefix) + "*";
  return impl_->scan(pattern, Op{"SCAN+UNLINK", Op::Kind::prefix, literal_prefix}, true);
}

void RedisStore::clear() {
  impl_->scan(impl_->match_all, Op{"SCAN+UNLINK", Op::Kind::space}, true);
}

std::size_t RedisStore::size() {
  return impl_->scan(impl_->match_all, Op{"SCAN", Op::Kind::space}, false);
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
  Args args;
  args.reserve(keys.size() + 1);
  args.add("MGET");
  for (const auto& key : keys) args.add(key);
  auto lease = impl_->pool.acquire(op);
  Reply reply = lease->command(args);
  if (!reply) impl_->fail(lease, op);
  return impl_->versions_of(reply.get(), names.size(), op);
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
  const std::string count = std::to_string(names.size());
  const TtlText keep(keep_alive);
  Args args;
  args.reserve(2 * names.size() + 4);
  args.add("EVAL");
  args.add(acquire_script);
  args.add(count);
  for (const auto& key : keys) args.add(key);
  args.add(keep.view());
  for (const auto& v : fresh) args.add(v);
  const Op op{"EVAL acquire stamps", Op::Kind::batch, names.front(), names.size()};
  auto lease = impl_->pool.acquire(op);
  Reply reply = lease->command(args);
  if (!reply) impl_->fail(lease, op);
  const auto versions = impl_->versions_of(reply.get(), names.size(), op);
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
  auto lease = impl_->pool.acquire(op);
  for (std::size_t i = 0; i < names.size(); ++i) {
    out[i] = ttlcache::detail::random_version();
    const std::string key = stamp_key(names[i]);
    const std::string version = std::to_string(out[i]);
    if (!lease->append({"SET", key, version, "PX", keep.view()})) impl_->fail(lease, op);
  }
  impl_->drain_status(lease, names.size(), op);
  return out;
}

void RedisStore::ping() {
  Reply reply = impl_->server_command({"PING"}, "PING");
  (void)reply;
}

std::uint64_t RedisStore::used_memory() {
  Reply reply = impl_->server_command({"INFO", "memory"}, "INFO memory");
  const Op op{"INFO memory", Op::Kind::server};
  if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS) {
    impl_->reply_error(op, reply.get());
  }
  std::string_view text = text_of(reply.get());
  constexpr std::string_view field = "used_memory:";
  // The field must start a line: "used_memory_rss:" and friends share the prefix.
  std::size_t pos = 0;
  while ((pos = text.find(field, pos)) != std::string_view::npos) {
    if (pos == 0 || text[pos - 1] == '\n') break;
    pos += field.size();
  }
  if (pos == std::string_view::npos) {
    detail::throw_reply_error(op, impl_->endpoint, "no used_memory field in the reply");
  }
  std::uint64_t bytes = 0;
  const char* begin = text.data() + pos + field.size();
  auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), bytes);
  if (ec != std::errc() || ptr == begin) {
    detail::throw_reply_error(op, impl_->endpoint, "used_memory is not a number");
  }
  return bytes;
}

std::uint64_t RedisStore::corrupt_values() const noexcept {
  return impl_->corrupt.load(std::memory_order_relaxed);
}

RedisStats RedisStore::stats() const {
  const auto counters = impl_->pool.counters();
  RedisStats stats;
  stats.corrupt_values = corrupt_values();
  stats.connects = counters.connects;
  stats.connect_failures = counters.connect_failures;
  stats.discarded = counters.discarded;
  stats.pool_timeouts = counters.pool_timeouts;
  stats.open_connections = counters.open;
  stats.idle_connections = counters.idle;
  return stats;
}

const std::string& RedisStore::key_namespace() const noexcept {
  return impl_->options.key_namespace;
}

std::string RedisStore::describe() const { return impl_->options.describe(); }

}  // namespace ttlcache::redis

// Router: CRC16 slots, the CLUSTER SLOTS map, MOVED updates, Sentinel master lookups.
// SPDX-License-Identifier: MIT
#include "cluster.hpp"

#include <hiredis/hiredis.h>

#include <charconv>

#include <fmt/format.h>

#include "sentinel.hpp"
#include "ttlcache/errors.hpp"

namespace ttlcache::redis::detail {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::array<std::uint16_t, 256> make_crc16_table() {
  std::array<std::uint16_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    auto crc = static_cast<std::uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000U) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021U)
                                 : static_cast<std::uint16_t>(crc << 1);
    }
    table[i] = crc;
  }
  return table;
}
constexpr std::array<std::uint16_t, 256> crc16_table = make_crc16_table();

std::string_view text_of(const redisReply* reply) {
  return reply->str ? std::string_view(reply->str, reply->len) : std::string_view();
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string endpoint_text(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

}  // namespace

std::uint16_t crc16(std::string_view data) noexcept {
  std::uint16_t crc = 0;
  for (char c : data) {
    const auto index = static_cast<std::uint8_t>((crc >> 8) ^ static_cast<std::uint8_t>(c));
    crc = static_cast<std::uint16_t>((crc << 8) ^ crc16_table[index]);
  }
  return crc;
}

std::uint16_t hash_slot(std::string_view key) noexcept {
  const auto open = key.find('{');
  if (open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    // "{}" is no tag: the whole key is hashed, as Redis does.
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return static_cast<std::uint16_t>(crc16(key) & (cluster_slots - 1));
}

Node::Node(const RedisOptions& base, const std::string& host, int port)
    : options([&] {
        RedisOptions o = base;
        o.topology = Topology::standalone;
        o.host = host;
        o.port = port;
        return o;
      }()),
      endpoint(endpoint_of(options)),
      pool(options, endpoint) {}

Redirect parse_redirect(std::string_view text) {
  Redirect out;
  std::string_view rest;
  if (text.substr(0, 6) == "MOVED ") {
    out.kind = Redirect::Kind::moved;
    rest = text.substr(6);
  } else if (text.substr(0, 4) == "ASK ") {
    out.kind = Redirect::Kind::ask;
    rest = text.substr(4);
  } else {
    return out;
  }
  const auto space = rest.find(' ');
  const auto colon = rest.rfind(':');
  unsigned slot = 0;
  if (space == std::string_view::npos || colon == std::string_view::npos || colon < space) {
    return Redirect{};
  }
  auto [p1, e1] = std::from_chars(rest.data(), rest.data() + space, slot);
  auto [p2, e2] = std::from_chars(rest.data() + colon + 1, rest.data() + rest.size(), out.port);
  if (e1 != std::errc() || e2 != std::errc() || slot >= cluster_slots || out.port <= 0) {
    return Redirect{};
  }
  out.slot = static_cast<std::uint16_t>(slot);
  std::string_view host = rest.substr(space + 1, colon - space - 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  out.host = std::string(host);
  return out;
}

bool topology_error(std::string_view text) noexcept {
  return starts_with(text, "READONLY") || starts_with(text, "CLUSTERDOWN") ||
         starts_with(text, "TRYAGAIN") || starts_with(text, "MASTERDOWN") ||
         starts_with(text, "LOADING");
}

Router::Router(const RedisOptions& options) : options_(options) {
  if (options_.topology == Topology::standalone) {
    auto layout = std::make_shared<Layout>();
    // One node; a unix socket in the options stays in the node's copy.
    layout->masters.push_back(std::make_shared<Node>(options_, options_.host, options_.port));
    layout->owner.fill(0);
    layout_ = std::move(layout);
  }
}

std::shared_ptr<Node> Router::node_at(const std::string& host, int port) {
  const std::string key = endpoint_text(host, port);
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = nodes_[key];
  if (!slot) slot = std::make_shared<Node>(options_, host, port);
  return slot;
}

std::vector<std::shared_ptr<Node>> Router::all_nodes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::shared_ptr<Node>> out;
  if (options_.topology == Topology::standalone && layout_) return layout_->masters;
  out.reserve(nodes_.size());
  for (const auto& entry : nodes_) out.push_back(entry.second);
  return out;
}

std::shared_ptr<const Router::Layout> Router::layout() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (layout_) return layout_;
  }
  // Rate-limited like any refresh: with every seed or Sentinel down, calls fail fast with the
  // last reason instead of each one trying them all again.
  refresh(false);
  std::lock_guard<std::mutex> lock(mutex_);
  if (!layout_) throw_unknown(last_refresh_failure_);
  return layout_;
}

std::shared_ptr<Node> Router::node_for_key(std::string_view full_key) {
  const auto current = layout();
  if (current->masters.size() == 1) return current->masters.front();
  const std::uint16_t slot = hash_slot(full_key);
  const std::uint16_t owner = current->owner[slot];
  if (owner == no_owner) {
    throw backend_error("redis", fmt::format("no master serves hash slot {} of key {} in the "
                                             "cluster map (the cluster does not cover it)",
                                             slot, ttlcache::detail::printable_key(full_key)));
  }
  return current->masters[owner];
}

std::vector<std::shared_ptr<Node>> Router::masters() { return layout()->masters; }

void Router::throw_unknown(const std::string& why) const {
  const char* what = options_.topology == Topology::cluster ? "the cluster slot map"
                                                            : "the master from the Sentinels";
  throw connection_error("redis", fmt::format("cannot learn {}: {}", what,
                                              why.empty() ? std::string("no answer") : why));
}

void Router::refresh(bool force) {
  if (options_.topology == Topology::standalone) return;
  std::lock_guard<std::mutex> guard(refresh_mutex_);
  const auto now = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!force && last_refresh_ != Clock::time_point{} &&
        now - last_refresh_ < options_.topology_refresh_interval) {
      return;
    }
  }
  std::string why;
  std::shared_ptr<const Layout> fresh =
      options_.topology == Topology::cluster ? load_cluster_layout(why) : load_sentinel_layout(why);
  std::lock_guard<std::mutex> lock(mutex_);
  last_refresh_ = Clock::now();
  if (fresh) {
    layout_ = std::move(fresh);
    refreshes_.fetch_add(1);
    last_refresh_failure_.clear();
  } else {
    last_refresh_failure_ = std::move(why);
  }
}

bool Router::changed_after_failure(const Node& node, std::string_view full_key) {
  if (options_.topology == Topology::standalone) return false;
  refresh(false);
  try {
    return node_for_key(full_key).get() != &node;
  } catch (const ttlcache::error&) {
    return false;
  }
}

void Router::moved(std::uint16_t slot, const std::string& host, int port) {
  std::shared_ptr<Node> target = node_at(host, port);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto updated = layout_ ? std::make_shared<Layout>(*layout_) : std::make_shared<Layout>();
    if (!layout_) updated->owner.fill(no_owner);
    std::uint16_t index = 0;
    while (index < updated->masters.size() && updated->masters[index] != target) ++index;
    if (index == updated->masters.size()) updated->masters.push_back(target);
    updated->owner[slot] = index;
    layout_ = std::move(updated);
  }
  refresh(false);
}

std::uint64_t Router::refreshes() const noexcept { return refreshes_.load(); }

std::uint64_t Router::redirections() const noexcept {
  return redirections_.load(std::memory_order_relaxed);
}

Answer Router::run_key(std::string_view full_key, const Op& op, Args& args) {
  return run_key_with(full_key, op, args);
}

Answer Router::run_key(std::string_view full_key, const Op& op,
                       std::initializer_list<std::string_view> args) {
  return run_key_with(full_key, op, args);
}

template <class A>
Answer Router::run_key_with(std::string_view full_key, const Op& op, A& args) {
  std::shared_ptr<Node> ask_node;
  for (int attempt = 0;; ++attempt) {
    const bool may_retry = attempt < options_.max_redirects;
    const bool asking = ask_node != nullptr;
    std::shared_ptr<Node> node = asking ? std::move(ask_node) : node_for_key(full_key);
    ask_node.reset();
    std::optional<ConnectionPool::Lease> lease;
    try {
      lease.emplace(node->pool.acquire(op));
    } catch (const backend_error&) {
      if (may_retry && changed_after_failure(*node, full_key)) continue;
      throw;
    }
    Reply reply;
    if (asking) {
      if ((*lease)->append({"ASKING"}) && (*lease)->append(args)) {
        if (Reply asked = (*lease)->read_reply()) reply = (*lease)->read_reply();
      }
    } else {
      reply = (*lease)->command(args);
    }
    if (!reply) {
      if (may_retry && changed_after_failure(*node, full_key)) continue;
      throw_failure((*lease)->failure(), op, node->endpoint, (*lease)->failure_text());
    }
    if (reply->type == REDIS_REPLY_ERROR && options_.topology != Topology::standalone) {
      const std::string_view text = text_of(reply.get());
      const Redirect redirect = parse_redirect(text);
      if (redirect.kind != Redirect::Kind::none) {
        if (!may_retry) {
          throw_reply_error(op, node->endpoint,
                            fmt::format("still redirected after {} redirections (last: {})",
                                        options_.max_redirects, text));
        }
        redirections_.fetch_add(1, std::memory_order_relaxed);
        if (redirect.kind == Redirect::Kind::moved) {
          moved(redirect.slot, redirect.host, redirect.port);
        } else {
          ask_node = node_at(redirect.host, redirect.port);
        }
        continue;
      }
      if (topology_error(text) && may_retry && changed_after_failure(*node, full_key)) continue;
    }
    return Answer{std::move(reply), std::move(node)};
  }
}

std::shared_ptr<const Router::Layout> Router::load_cluster_layout(std::string& why) {
  // Known masters first (they are the most current), then the seeds.
  std::vector<std::shared_ptr<Node>> candidates;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (layout_) candidates = layout_->masters;
  }
  for (const auto& seed : options_.nodes) {
    auto node = node_at(seed.host, seed.port);
    bool known = false;
    for (const auto& c : candidates) known = known || c == node;
    if (!known) candidates.push_back(std::move(node));
  }
  const Op op{"CLUSTER SLOTS", Op::Kind::server};
  for (const auto& node : candidates) {
    if (!why.empty()) why += "; ";
    Reply reply;
    try {
      auto lease = node->pool.acquire(op);
      reply = lease->command({"CLUSTER", "SLOTS"});
      if (!reply) {
        why += fmt::format("{}: {}", node->endpoint, lease->failure_text());
        continue;
      }
    } catch (const ttlcache::error& e) {
      why += e.what();
      continue;
    }
    if (reply->type != REDIS_REPLY_ARRAY) {
      why += fmt::format("{} answered CLUSTER SLOTS with {}", node->endpoint,
                         reply->type == REDIS_REPLY_ERROR ? text_of(reply.get())
                                                          : std::string_view("a non-array"));
      continue;
    }
    auto layout = std::make_shared<Layout>();
    layout->owner.fill(no_owner);
    bool ok = reply->elements > 0;
    for (std::size_t i = 0; ok && i < reply->elements; ++i) {
      const redisReply* range = reply->element[i];
      if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
          range->element[0]->type != REDIS_REPLY_INTEGER ||
          range->element[1]->type != REDIS_REPLY_INTEGER ||
          range->element[2]->type != REDIS_REPLY_ARRAY || range->element[2]->elements < 2 ||
          range->element[2]->element[0]->type != REDIS_REPLY_STRING ||
          range->element[2]->element[1]->type != REDIS_REPLY_INTEGER) {
        ok = false;
        break;
      }
      const long long first = range->element[0]->integer;
      const long long last = range->element[1]->integer;
      if (first < 0 || last >= static_cast<long long>(cluster_slots) || first > last) {
        ok = false;
        break;
      }
      std::string host(text_of(range->element[2]->element[0]));
      // An empty address means "the node you asked" (cluster-announce unknown).
      if (host.empty() || host == "?") host = node->options.host;
      const auto port = static_cast<int>(range->element[2]->element[1]->integer);
      std::shared_ptr<Node> master = node_at(host, port);
      std::uint16_t index = 0;
      while (index < layout->masters.size() && layout->masters[index] != master) ++index;
      if (index == layout->masters.size()) layout->masters.push_back(master);
      for (long long s = first; s <= last; ++s) layout->owner[static_cast<std::size_t>(s)] = index;
    }
    if (!ok) {
      why += fmt::format("{} sent an unreadable CLUSTER SLOTS reply (empty or malformed)",
                         node->endpoint);
      continue;
    }
    return layout;
  }
  return nullptr;
}

std::shared_ptr<const Router::Layout> Router::load_sentinel_layout(std::string& why) {
  std::optional<RedisEndpoint> master = ask_sentinels(options_, why);
  if (!master) return nullptr;
  auto layout = std::make_shared<Layout>();
  layout->masters.push_back(node_at(master->host, master->port));
  layout->owner.fill(0);
  return layout;
}

}  // namespace ttlcache::redis::detail

// Sentinel queries: one short connection per Sentinel, first answer wins.
// SPDX-License-Identifier: MIT
#include "sentinel.hpp"

#include <hiredis/hiredis.h>

#include <charconv>

#include <fmt/format.h>

#include "connection.hpp"

namespace ttlcache::redis::detail {

std::optional<RedisEndpoint> ask_sentinels(const RedisOptions& options, std::string& why) {
  why.clear();
  for (const auto& sentinel : options.nodes) {
    RedisOptions sentinel_options = options;
    sentinel_options.topology = Topology::standalone;
    sentinel_options.host = sentinel.host;
    sentinel_options.port = sentinel.port;
    sentinel_options.unix_socket.clear();
    sentinel_options.user.clear();
    sentinel_options.password.clear();
    sentinel_options.db = 0;
    const std::string endpoint = endpoint_of(sentinel_options);
    if (!why.empty()) why += "; ";
    Connection::OpenResult opened = Connection::open(sentinel_options);
    if (!opened.connection) {
      why += fmt::format("Sentinel {}: {}", endpoint, opened.reason);
      continue;
    }
    Reply reply = opened.connection->command(
        {"SENTINEL", "get-master-addr-by-name", options.sentinel_master});
    if (!reply) {
      why += fmt::format("Sentinel {}: {}", endpoint, opened.connection->failure_text());
      continue;
    }
    if (reply->type == REDIS_REPLY_NIL) {
      why += fmt::format("Sentinel {} does not know a master named {}", endpoint,
                         options.sentinel_master);
      continue;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING) {
      why += fmt::format("Sentinel {} gave an unexpected reply{}", endpoint,
                         reply->type == REDIS_REPLY_ERROR && reply->str != nullptr
                             ? fmt::format(": {}", std::string_view(reply->str, reply->len))
                             : std::string());
      continue;
    }
    RedisEndpoint master;
    master.host.assign(reply->element[0]->str, reply->element[0]->len);
    const std::string_view port_text(reply->element[1]->str, reply->element[1]->len);
    auto [ptr, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), master.port);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || master.host.empty()) {
      why += fmt::format("Sentinel {} gave an unreadable address", endpoint);
      continue;
    }
    return master;
  }
  return std::nullopt;
}

}  // namespace ttlcache::redis::detail

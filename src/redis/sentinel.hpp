// Asking Redis Sentinels where the current master of a named group is.
// SPDX-License-Identifier: MIT
#pragma once

#include <optional>
#include <string>

#include "ttlcache/redis/options.hpp"

namespace ttlcache::redis::detail {

/// Asks each Sentinel in options.nodes, in order, `SENTINEL get-master-addr-by-name
/// <sentinel_master>` over a short-lived connection (no AUTH, no SELECT: the credentials are
/// the master's). Returns the first answer; nullopt when none answered, with why saying what
/// each Sentinel did (no credentials). Never throws for network problems.
std::optional<RedisEndpoint> ask_sentinels(const RedisOptions& options, std::string& why);

}  // namespace ttlcache::redis::detail

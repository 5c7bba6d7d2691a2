// The TTL policy interface: how a Cache turns (content type, context) into a lifetime.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <string_view>

#include "ttlcache/context.hpp"

namespace ttlcache {

/// Computes an entry's TTL from what the caller knows about it. DynamicTTL is the shipped
/// implementation; users may write their own. Implementations must be thread-safe: a Cache calls
/// ttl_for concurrently from every thread that writes. The result must be positive.
class TtlPolicy {
 public:
  virtual ~TtlPolicy() = default;
  virtual std::chrono::milliseconds ttl_for(std::string_view content_type,
                                            const Context& context) const = 0;
};

}  // namespace ttlcache

// TtlGroupFn: how a cache names the key group of a key, for per-group adaptive TTL estimates.
// SPDX-License-Identifier: MIT
#pragma once

#include <functional>
#include <string>

namespace ttlcache {

/// Names the key group a key belongs to (e.g. its tenant, or a hot/cold family), so that an
/// adaptive TtlPolicy learns how often that group's data changes apart from the rest of its
/// content type (CacheBuilder::ttl_group; docs/dynamic-ttl.md, "Key groups"). An empty string
/// means no group: the key gets its type's estimate. Called only while the policy adapts, for
/// calls that name a content type, once per key; it must be thread-safe and cheap, and should
/// return a small set of names (the policy keeps estimates for at most adaptive.max_groups of
/// them). An exception it throws propagates from the cache call, before anything is stored.
template <class K>
using TtlGroupFn = std::function<std::string(const K&)>;

}  // namespace ttlcache

// The umbrella header: the whole core API (the Redis parts come from <ttlcache/redis.hpp>).
// SPDX-License-Identifier: MIT
#pragma once

#include "ttlcache/backend.hpp"
#include "ttlcache/byte_store.hpp"
#include "ttlcache/cache.hpp"
#include "ttlcache/clock.hpp"
#include "ttlcache/codec.hpp"
#include "ttlcache/codec_backend.hpp"
#include "ttlcache/context.hpp"
#include "ttlcache/dynamic_ttl.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/eviction.hpp"
#include "ttlcache/key.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/removal.hpp"
#include "ttlcache/ttl_policy.hpp"
#include "ttlcache/version.hpp"

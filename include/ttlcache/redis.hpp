// Umbrella header for ttlcache::redis (link the CMake target ttlcache::redis).
// SPDX-License-Identifier: MIT
#pragma once

#include "ttlcache/redis/builder.hpp"
#include "ttlcache/redis/fail_safe.hpp"
#include "ttlcache/redis/invalidation.hpp"
#include "ttlcache/redis/lock.hpp"
#include "ttlcache/redis/options.hpp"
#include "ttlcache/redis/pubsub_bus.hpp"
#include "ttlcache/redis/redis_store.hpp"
#include "ttlcache/redis/tracking.hpp"

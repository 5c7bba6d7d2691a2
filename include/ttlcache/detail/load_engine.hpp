// The engine behind Cache, whole: the class (load_engine_core.hpp) and its batch operations.
// SPDX-License-Identifier: MIT
#pragma once

#include "ttlcache/detail/load_engine_batch.hpp"  // IWYU pragma: export
#include "ttlcache/detail/load_engine_core.hpp"   // IWYU pragma: export

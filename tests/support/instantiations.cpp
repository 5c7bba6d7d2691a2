// The explicit instantiations that instantiations.hpp declares extern (see there why).
// SPDX-License-Identifier: MIT
#define TTLCACHE_TEST_INSTANTIATE
#include "support/instantiations.hpp"

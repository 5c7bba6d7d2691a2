// The class templates most tests instantiate (K = V = std::string, and the envelopes the
// builder's layers wrap values in), declared `extern template` here and compiled once, in
// instantiations.cpp, instead of in every test source.
//
// Why: CI compiles the suite three times on two cores, and a test source that builds one cache
// with CacheBuilder<std::string, std::string> spent most of its compile time generating the
// same layers again (test_builder.cpp: 40 s at -O2 and 50 s under ASan, 10 and 11 s with this).
// tests/CMakeLists.txt force-includes this header (-include) into every test executable's
// sources and links the instantiations in; no test names it. Examples, the README's snippets,
// the header check and the package consumers are built without it, as users build.
// SPDX-License-Identifier: MIT
#pragma once

#include <string>

// Not ttlcache.hpp: in-process users pay nothing for JSON, and test_builder.cpp checks that
// the builder does not pull nlohmann/json in (CodecBackend, for Redis values, would).
#include "ttlcache/builder.hpp"
#include "ttlcache/cache.hpp"
#include "ttlcache/fail_safe.hpp"
#include "ttlcache/memory_backend.hpp"
#include "ttlcache/memory_layers.hpp"
#include "ttlcache/resilient_backend.hpp"
#include "ttlcache/tags.hpp"
#include "ttlcache/tiered_backend.hpp"

#ifdef TTLCACHE_TEST_INSTANTIATE
#define TTLCACHE_TEST_EXTERN
#else
#define TTLCACHE_TEST_EXTERN extern
#endif

// (CacheBuilder is left out: its Redis members need <ttlcache/redis.hpp>, and explicit
// instantiation would compile them all. What its build() creates is listed.)
TTLCACHE_TEST_EXTERN template class ttlcache::Cache<std::string, std::string>;
TTLCACHE_TEST_EXTERN template class ttlcache::detail::LoadEngine<std::string, std::string>;
TTLCACHE_TEST_EXTERN template class ttlcache::detail::LoadShared<std::string, std::string>;
TTLCACHE_TEST_EXTERN template class ttlcache::detail::SingleFlight<
    std::string, ttlcache::LoadResult<std::string>>;
TTLCACHE_TEST_EXTERN template class ttlcache::MemoryBackend<std::string, std::string>;
TTLCACHE_TEST_EXTERN template class ttlcache::MemoryBackend<std::string,
                                                            ttlcache::Tagged<std::string>>;
TTLCACHE_TEST_EXTERN template class ttlcache::MemoryBackend<std::string,
                                                            ttlcache::Timed<std::string>>;
TTLCACHE_TEST_EXTERN template class ttlcache::MemoryBackend<
    std::string, ttlcache::Tagged<ttlcache::Timed<std::string>>>;
TTLCACHE_TEST_EXTERN template class ttlcache::detail::IndexedMemoryBackend<
    std::string, ttlcache::Tagged<std::string>>;
TTLCACHE_TEST_EXTERN template class ttlcache::detail::IndexedMemoryBackend<
    std::string, ttlcache::Tagged<ttlcache::Timed<std::string>>>;
TTLCACHE_TEST_EXTERN template class ttlcache::TaggedBackend<std::string, std::string>;
TTLCACHE_TEST_EXTERN template class ttlcache::TaggedBackend<std::string,
                                                            ttlcache::Timed<std::string>>;
TTLCACHE_TEST_EXTERN template class ttlcache::FailSafeBackend<std::string, std::string>;
TTLCACHE_TEST_EXTERN template class ttlcache::TieredBackend<std::string, std::string>;
TTLCACHE_TEST_EXTERN template class ttlcache::TieredBackend<std::string,
                                                            ttlcache::Tagged<std::string>>;
TTLCACHE_TEST_EXTERN template class ttlcache::TieredBackend<std::string,
                                                            ttlcache::Timed<std::string>>;
TTLCACHE_TEST_EXTERN template class ttlcache::TieredBackend<
    std::string, ttlcache::Tagged<ttlcache::Timed<std::string>>>;
TTLCACHE_TEST_EXTERN template class ttlcache::ResilientBackend<std::string, std::string>;
TTLCACHE_TEST_EXTERN template class ttlcache::ResilientBackend<std::string,
                                                               ttlcache::Tagged<std::string>>;
TTLCACHE_TEST_EXTERN template class ttlcache::ResilientBackend<std::string,
                                                               ttlcache::Timed<std::string>>;
TTLCACHE_TEST_EXTERN template class ttlcache::ResilientBackend<
    std::string, ttlcache::Tagged<ttlcache::Timed<std::string>>>;

// The service's generated data: users, markdown files of realistic sizes, bookmarks; seeded so
// that runs are comparable.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "database.hpp"

namespace service {

/// How much data to generate.
struct DatasetOptions {
  std::int64_t users = 300;
  std::int64_t files = 3'000;  ///< ids 1..files
  std::uint64_t seed = 42;
};

/// The words file names, contents and search queries are made of (the load generator draws its
/// queries from them too).
const std::vector<std::string>& vocabulary();

/// The programming languages of the files.
const std::vector<std::string>& languages();

/// A markdown document of about `bytes` bytes (headings, paragraphs, lists, a code block),
/// drawn from `rng_state` (a splitmix64 state, advanced).
std::string make_markdown(std::uint64_t& rng_state, std::size_t bytes);

/// Fills an empty database: users 1..users, files 1..files owned by users (a few own many),
/// sizes from ~300 B to ~30 kB (median ~2.5 kB), and bookmarks. The same options give the
/// same rows. Throws what the database throws.
void generate(Database& db, const DatasetOptions& options);

/// splitmix64: a small, fast, portable generator (std distributions differ between libraries).
inline std::uint64_t next_random(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
/// Uniform in [0, 1).
inline double next_unit(std::uint64_t& state) {
  return static_cast<double>(next_random(state) >> 11) * 0x1.0p-53;
}

}  // namespace service

// Generates the service's users, files and bookmarks from a seed.
// SPDX-License-Identifier: MIT
#include "dataset.hpp"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace service {

const std::vector<std::string>& vocabulary() {
  static const std::vector<std::string> words = {
      "cache",   "server",    "request",   "thread",   "buffer",    "socket",   "parser",
      "vector",  "matrix",    "lambda",    "closure",  "promise",   "future",   "mutex",
      "atomic",  "kernel",    "driver",    "plugin",   "router",    "handler",  "session",
      "token",   "cookie",    "header",    "payload",  "schema",    "query",    "index",
      "shard",   "replica",   "leader",    "follower", "stream",    "channel",  "queue",
      "stack",   "heap",      "graph",     "tree",     "node",      "edge",     "weight",
      "metric",  "gauge",     "counter",   "timer",    "clock",     "deadline", "retry",
      "backoff", "circuit",   "breaker",   "fallback", "config",    "loader",   "encoder",
      "decoder", "codec",     "json",      "yaml",     "template",  "macro",    "module",
      "package", "compiler",  "linker",    "binary",   "symbol",    "pointer",  "memory",
      "arena",   "pool",      "allocator", "iterator", "range",     "slice",    "string",
      "unicode", "regex",     "pattern",   "search",   "filter",    "sort",     "merge",
      "reduce",  "fold",      "map",       "hash",     "bloom",     "sketch",   "window",
      "sample",  "histogram", "quantile",  "latency",  "throughput"};
  return words;
}

const std::vector<std::string>& languages() {
  static const std::vector<std::string> langs = {"python", "cpp",  "javascript", "go",
                                                 "rust",   "java", "sql",        "bash"};
  return langs;
}

namespace {

const std::string& word(std::uint64_t& rng) {
  const auto& words = vocabulary();
  // Squared uniform: a few words are much more common, as in real text.
  const double u = next_unit(rng);
  return words[static_cast<std::size_t>(u * u * static_cast<double>(words.size()))];
}

void sentence(std::uint64_t& rng, std::string& out) {
  const int n = 6 + static_cast<int>(next_random(rng) % 10);
  for (int i = 0; i < n; ++i) {
    std::string w = word(rng);
    if (i == 0) w[0] = static_cast<char>(w[0] - 'a' + 'A');
    out += w;
    out += i + 1 == n ? ". " : " ";
  }
}

}  // namespace

std::string make_markdown(std::uint64_t& rng, std::size_t bytes) {
  std::string out = "# ";
  out += word(rng) + " " + word(rng) + "\n\n";
  int section = 0;
  while (out.size() < bytes) {
    switch (next_random(rng) % 5) {
      case 0:
        out += "## " + word(rng) + " " + std::to_string(++section) + "\n\n";
        break;
      case 1:
        for (int i = 0; i < 3; ++i) out += "- **" + word(rng) + "**: " + word(rng) + "\n";
        out += "\n";
        break;
      case 2:
        out += "```\n" + word(rng) + "(" + word(rng) + ", " + word(rng) + ");\nreturn " +
               word(rng) + ";\n```\n\n";
        break;
      default:
        for (int i = 0; i < 3; ++i) sentence(rng, out);
        out += "`" + word(rng) + "`.\n\n";
    }
  }
  return out;
}

void generate(Database& db, const DatasetOptions& o) {
  std::uint64_t rng = o.seed;
  db.begin_bulk();
  try {
    for (std::int64_t u = 1; u <= o.users; ++u) db.add_user(u, "user" + std::to_string(u));
    // In batches: a server database answers each in one round trip (the rows and their order
    // are the same on every database).
    constexpr std::size_t batch = 200;
    std::vector<NewFile> files;
    files.reserve(batch);
    for (std::int64_t f = 1; f <= o.files; ++f) {
      // Owners: squared uniform, so a few users own many files (and have long lists).
      const double uo = next_unit(rng);
      const auto owner = 1 + static_cast<std::int64_t>(uo * uo * static_cast<double>(o.users));
      // Sizes: log-uniform between ~300 B and ~30 kB.
      const auto size = static_cast<std::size_t>(300.0 * std::pow(100.0, next_unit(rng)));
      const auto& lang = languages()[next_random(rng) % languages().size()];
      std::string name = word(rng) + "_" + word(rng) + "_" + std::to_string(f) + ".md";
      files.push_back({owner, std::move(name), lang, make_markdown(rng, size)});
      if (files.size() == batch || f == o.files) {
        db.create_files(files);
        files.clear();
      }
    }
    std::vector<NewBookmark> bookmarks;
    for (std::int64_t u = 1; u <= o.users; ++u) {
      const auto n = static_cast<std::int64_t>(next_random(rng) % 12);
      for (std::int64_t i = 0; i < n; ++i) {
        const double uf = next_unit(rng);
        const auto file = 1 + static_cast<std::int64_t>(uf * uf * static_cast<double>(o.files));
        bookmarks.push_back({u, file, i});
      }
    }
    db.add_bookmarks(bookmarks);
  } catch (...) {
    db.end_bulk();
    throw;
  }
  db.end_bulk();
}

}  // namespace service

// Readers for the key traces under ../shared/traces (shared by the replay tool and tests).
// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace ttlcache::bench {

inline std::vector<std::int64_t> read_xz_int32be(const std::string& path) {
  // Shell-quote the path for popen: single quotes, with embedded ones closed and escaped.
  std::string quoted = "'";
  for (char c : path) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted += "'";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(("xz -dc " + quoted).c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot run xz -dc on " + path);
  std::vector<std::int64_t> keys;
  unsigned char b[4];
  while (std::fread(b, 1, 4, pipe.get()) == 4) {
    const std::uint32_t u = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                            (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
    keys.push_back(static_cast<std::int32_t>(u));
  }
  return keys;
}

inline std::vector<std::int64_t> read_text(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "r"), std::fclose);
  if (!file) throw std::runtime_error("cannot open " + path);
  std::vector<std::int64_t> keys;
  long long k = 0;
  while (std::fscanf(file.get(), "%lld", &k) == 1) keys.push_back(k);
  return keys;
}

/// Reads a trace; format "auto" picks xz-int32be for *.xz files and text otherwise.
inline std::vector<std::int64_t> read_trace(const std::string& path, std::string format = "auto") {
  if (format == "auto") {
    format =
        path.size() > 3 && path.compare(path.size() - 3, 3, ".xz") == 0 ? "xz-int32be" : "text";
  }
  if (format == "xz-int32be") return read_xz_int32be(path);
  if (format == "text") return read_text(path);
  throw std::runtime_error("unknown trace format '" + format + "'");
}

}  // namespace ttlcache::bench

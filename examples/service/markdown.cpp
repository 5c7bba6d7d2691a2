// cmark rendering and ETags for the service.
// SPDX-License-Identifier: MIT
#include "markdown.hpp"

#include <cmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>

namespace service {

std::string render_markdown(std::string_view markdown) {
  std::unique_ptr<char, decltype(&std::free)> html(
      cmark_markdown_to_html(markdown.data(), markdown.size(), CMARK_OPT_DEFAULT), &std::free);
  if (!html) throw std::bad_alloc();
  return std::string(html.get());
}

std::string etag_of(std::string_view body) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : body) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  char out[24];
  std::snprintf(out, sizeof out, "\"%016llx\"", static_cast<unsigned long long>(h));
  return out;
}

}  // namespace service

// Markdown to HTML (cmark) and the entity tags of HTTP responses.
// SPDX-License-Identifier: MIT
#pragma once

#include <string>
#include <string_view>

namespace service {

/// CommonMark to HTML; raw HTML in the input is escaped (CMARK_OPT_SAFE is cmark's default).
/// Throws std::bad_alloc when cmark runs out of memory.
std::string render_markdown(std::string_view markdown);

/// A strong ETag (quoted) for a body: 64-bit FNV-1a of its bytes.
std::string etag_of(std::string_view body);

}  // namespace service

// KeyPattern: a key pattern of literal parts and wildcards, where user-supplied text is literal.
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ttlcache {

/// A pattern over encoded keys, built from parts: literal text, `any` (any run of bytes,
/// possibly empty: glob's `*`) and `one` (exactly one byte: glob's `?`). Literal parts are
/// always taken literally, so a user id such as "a*b" or "x?[y]" can never widen the pattern:
/// there is no string syntax to parse, hence nothing to inject.
///
///   using ttlcache::KeyPattern;
///   KeyPattern p{KeyPattern::any, ":" + user_id + ":", KeyPattern::any};  // *:{user_id}:*
///
/// Backends render it for themselves (Redis: SCAN MATCH with every glob character of the
/// literal parts escaped). Patterns walk keys; tags do not (see docs/invalidation.md).
///
/// Thread-safety: a plain value; const members may be called concurrently. Exceptions:
/// construction may throw std::bad_alloc; matches() never throws.
class KeyPattern {
 public:
  enum class Wildcard : unsigned char { any_run, one_byte };
  /// Any run of bytes, possibly empty.
  static constexpr Wildcard any = Wildcard::any_run;
  /// Exactly one byte.
  static constexpr Wildcard one = Wildcard::one_byte;

  /// One part: literal text or a wildcard. Implicit, for the braced form above.
  struct Part {
    bool wildcard = false;
    Wildcard kind = Wildcard::any_run;
    std::string text;  ///< the literal (empty for a wildcard)

    Part(Wildcard w) : wildcard(true), kind(w) {}        // NOLINT: implicit on purpose
    Part(std::string_view literal) : text(literal) {}    // NOLINT: implicit on purpose
    Part(const std::string& literal) : text(literal) {}  // NOLINT: implicit on purpose
    Part(const char* literal) : text(literal) {}         // NOLINT: implicit on purpose
  };

  /// The empty pattern: matches only the empty key.
  KeyPattern() = default;
  KeyPattern(std::initializer_list<Part> parts) {
    for (const Part& p : parts) append(p);
  }

  /// Appends literal text (taken literally, whatever characters it holds).
  KeyPattern& literal(std::string_view text) {
    append(Part(text));
    return *this;
  }
  /// Appends `any` (glob `*`).
  KeyPattern& any_run() {
    append(Part(any));
    return *this;
  }
  /// Appends `one` (glob `?`).
  KeyPattern& one_byte() {
    append(Part(one));
    return *this;
  }

  /// The parts, adjacent literals merged and runs of `any` collapsed to one.
  const std::vector<Part>& parts() const noexcept { return parts_; }

  /// The literal text every matching key starts with (what an ordered index can seek to).
  std::string_view literal_prefix() const noexcept {
    if (parts_.empty() || parts_.front().wildcard) return {};
    return parts_.front().text;
  }

  /// Whether the whole key matches. Wildcard matching with single backtracking to the last
  /// `any`: O(key x pattern) in the worst case, linear for the usual one or two `any`s.
  bool matches(std::string_view key) const noexcept {
    std::size_t k = 0;  // position in key
    std::size_t p = 0;  // part index
    std::size_t c = 0;  // offset inside a literal part
    bool star = false;
    std::size_t star_p = 0;
    std::size_t star_k = 0;
    while (k < key.size()) {
      if (p < parts_.size()) {
        const Part& part = parts_[p];
        if (part.wildcard && part.kind == Wildcard::any_run) {
          star = true;
          star_p = ++p;
          star_k = k;
          c = 0;
          continue;
        }
        if (part.wildcard) {  // one byte
          ++k;
          ++p;
          continue;
        }
        if (key[k] == part.text[c]) {
          ++k;
          if (++c == part.text.size()) {
            ++p;
            c = 0;
          }
          continue;
        }
      }
      if (!star) return false;
      // Let the last `any` swallow one more byte and retry from the part after it.
      k = ++star_k;
      p = star_p;
      c = 0;
    }
    // The key is consumed: only `any`s may remain (and no partly matched literal).
    if (c != 0) return false;
    while (p < parts_.size() && parts_[p].wildcard && parts_[p].kind == Wildcard::any_run) ++p;
    return p == parts_.size();
  }

  /// Glob-like display: `*` and `?` for wildcards, literal parts with \ before * ? [ ] \.
  std::string to_string() const {
    std::string out;
    for (const Part& part : parts_) {
      if (part.wildcard) {
        out += part.kind == Wildcard::any_run ? '*' : '?';
        continue;
      }
      for (char ch : part.text) {
        if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') out += '\\';
        out += ch;
      }
    }
    return out;
  }

  friend bool operator==(const KeyPattern& a, const KeyPattern& b) {
    if (a.parts_.size() != b.parts_.size()) return false;
    for (std::size_t i = 0; i < a.parts_.size(); ++i) {
      const Part& x = a.parts_[i];
      const Part& y = b.parts_[i];
      if (x.wildcard != y.wildcard || x.kind != y.kind || x.text != y.text) return false;
    }
    return true;
  }
  friend bool operator!=(const KeyPattern& a, const KeyPattern& b) { return !(a == b); }

 private:
  void append(const Part& part) {
    if (!part.wildcard && part.text.empty()) return;
    if (!parts_.empty()) {
      Part& last = parts_.back();
      if (!part.wildcard && !last.wildcard) {
        last.text += part.text;
        return;
      }
      if (part.wildcard && last.wildcard && part.kind == Wildcard::any_run &&
          last.kind == Wildcard::any_run) {
        return;
      }
    }
    parts_.push_back(part);
  }

  std::vector<Part> parts_;
};

}  // namespace ttlcache

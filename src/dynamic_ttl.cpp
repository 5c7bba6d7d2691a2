// DynamicTTL: validation, JSON load/dump, compilation into flat arrays, evaluation, explain.
// SPDX-License-Identifier: MIT
#include "ttlcache/dynamic_ttl.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <shared_mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ttlcache/errors.hpp"
#include "ttlcache/jitter.hpp"

namespace ttlcache {
namespace detail {
namespace {

using Json = nlohmann::ordered_json;
// Reading uses the std::map-backed json: ordered_json finds a key by a linear scan, which made
// loading quadratic in the number of content types. Their order is recorded by ParseTracker.
using In = nlohmann::json;

// Sanity limits: far above any real policy, low enough that a hostile config cannot make
// loading (or the per-call rule scan) expensive.
constexpr double max_seconds = 10.0 * 365 * 24 * 3600;  // 10 years
constexpr std::size_t max_rules = 256;                  // per rule list
constexpr std::size_t max_windows = 64;                 // per window list
constexpr std::size_t max_set_values = 256;             // per `in` rule
constexpr std::size_t max_content_types = 65536;        // lookups are a binary search
constexpr std::size_t max_adaptive_groups = 65536;      // estimates per (type, key group)
constexpr std::size_t max_policy_bytes = 8U << 20U;     // 8 MiB: ~50 x a 65536-type policy's need
constexpr std::size_t max_object_keys = 16;             // every other object has at most 10 keys
constexpr double max_adaptive_factor = 1000.0;
constexpr int max_offset_minutes = 18 * 60;  // ISO 8601's range of UTC offsets
constexpr int max_json_depth = 8;            // the format itself needs 6
constexpr int minutes_per_day = 1440;
constexpr int minutes_per_week = 7 * minutes_per_day;

constexpr std::array<std::string_view, 7> day_names = {"mon", "tue", "wed", "thu",
                                                       "fri", "sat", "sun"};

// ---- paths and small formatting helpers ----

bool is_identifier(std::string_view key) {
  if (key.empty()) return false;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (digit && i > 0))) return false;
  }
  return true;
}

// JSON string literal of arbitrary bytes; never throws on invalid UTF-8.
std::string json_quote(std::string_view s) {
  return Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

// "$.a.b" for identifiers, "$.a[\"x.y\"]" otherwise, so every path is unambiguous.
std::string child(const std::string& path, std::string_view key) {
  if (is_identifier(key)) return fmt::format("{}.{}", path, key);
  return fmt::format("{}[{}]", path, json_quote(key));
}

std::string index(const std::string& path, std::size_t i) { return fmt::format("{}[{}]", path, i); }

[[noreturn]] void fail(std::string path, const std::string& reason) {
  throw config_error(std::move(path), reason);
}

std::string seconds_text(std::int64_t ms) {
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  std::string frac = fmt::format("{:03}", std::llabs(ms % 1000));
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return fmt::format("{}{}.{}s", ms < 0 ? "-" : "", std::llabs(ms / 1000), frac);
}

std::string clock_text(int minute) { return fmt::format("{:02}:{:02}", minute / 60, minute % 60); }

std::string value_text(const ContextValue& v) {
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* d = std::get_if<double>(&v)) return fmt::format("{:g}", *d);
  return json_quote(std::get<std::string>(v));
}

std::string_view op_text(RuleOp op) {
  switch (op) {
    case RuleOp::equal:
      return "==";
    case RuleOp::not_equal:
      return "!=";
    case RuleOp::less:
      return "<";
    case RuleOp::less_equal:
      return "<=";
    case RuleOp::greater:
      return ">";
    case RuleOp::greater_equal:
      return ">=";
    case RuleOp::in:
      return "in";
    case RuleOp::present:
      return "present";
  }
  return "?";
}

bool is_ordering(RuleOp op) {
  return op == RuleOp::less || op == RuleOp::less_equal || op == RuleOp::greater ||
         op == RuleOp::greater_equal;
}

bool is_comparison(RuleOp op) {
  return op == RuleOp::equal || op == RuleOp::not_equal || is_ordering(op);
}

std::string days_text(std::uint8_t mask) {
  std::string out;
  for (std::size_t d = 0; d < day_names.size(); ++d) {
    if ((mask & (1U << d)) == 0) continue;
    if (!out.empty()) out += ',';
    out += day_names[d];
  }
  return out;
}

std::string rule_display_name(const TtlRule& rule) {
  if (!rule.name.empty()) return rule.name;
  if (rule.op == RuleOp::present) return fmt::format("{} present", rule.field);
  if (rule.op == RuleOp::in) {
    std::string set;
    for (const auto& v : rule.values) {
      if (!set.empty()) set += ", ";
      set += value_text(v);
    }
    return fmt::format("{} in [{}]", rule.field, set);
  }
  return fmt::format("{} {} {}", rule.field, op_text(rule.op), value_text(rule.value));
}

std::string window_display_name(const TtlWindow& w) {
  if (!w.name.empty()) return w.name;
  std::string name = fmt::format("{}-{}", clock_text(w.from_minute), clock_text(w.to_minute));
  if (w.days != days::every_day) name += " " + days_text(w.days);
  return name;
}

// "HH:MM", hours 00-23 (24:00 only as an end), minutes 00-59.
std::optional<int> parse_clock(std::string_view text, bool is_end) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  for (std::size_t i : {0, 1, 3, 4}) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  }
  const int hours = (text[0] - '0') * 10 + (text[1] - '0');
  const int minutes = (text[3] - '0') * 10 + (text[4] - '0');
  if (minutes > 59) return std::nullopt;
  if (hours == 24 && minutes == 0 && is_end) return minutes_per_day;
  if (hours > 23) return std::nullopt;
  const int total = hours * 60 + minutes;
  // "00:00" as an end means midnight at the end of the day: 18:00-00:00 does not wrap.
  if (is_end && total == 0) return minutes_per_day;
  return total;
}

int parse_clock_or_throw(std::string_view text, bool is_end, const std::string& path) {
  const auto minute = parse_clock(text, is_end);
  if (!minute) {
    fail(path, fmt::format("malformed time {}: expected \"HH:MM\" from 00:00 to {}",
                           json_quote(text), is_end ? "24:00" : "23:59"));
  }
  return *minute;
}

// ---- semantic validation (shared by the JSON loader and the builder) ----

void check_duration(std::chrono::milliseconds ms, const std::string& path) {
  if (ms.count() <= 0) {
    fail(path, fmt::format("must be a positive duration, got {}", seconds_text(ms.count())));
  }
  if (static_cast<double>(ms.count()) > max_seconds * 1000.0) {
    fail(path, fmt::format("must be at most {} s (10 years), got {}",
                           static_cast<std::int64_t>(max_seconds), seconds_text(ms.count())));
  }
}

void check_factor(double factor, const std::string& path) {
  if (!(factor > 0.0) || !std::isfinite(factor)) {
    fail(path, fmt::format("multiplier must be a finite number > 0, got {}", factor));
  }
}

void check_percent(double percent, const std::string& path) {
  if (!(percent >= 0.0 && percent < 100.0)) {
    fail(path, fmt::format("jitter must be a percentage in [0, 100), got {}", percent));
  }
}

void check_rules(const std::vector<TtlRule>& rules, const std::string& path) {
  if (rules.size() > max_rules) {
    fail(path, fmt::format("too many rules ({}, at most {})", rules.size(), max_rules));
  }
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const TtlRule& rule = rules[i];
    const std::string at = index(path, i);
    if (rule.field.empty()) fail(child(at, "field"), "must not be empty");
    if (is_ordering(rule.op) && !std::holds_alternative<double>(rule.value)) {
      fail(child(at, "value"), fmt::format("operator {} needs a number, got {}", op_text(rule.op),
                                           value_text(rule.value)));
    }
    if (rule.op == RuleOp::in) {
      if (rule.values.empty()) fail(child(at, "values"), "must list at least one value");
      if (rule.values.size() > max_set_values) {
        fail(child(at, "values"),
             fmt::format("too many values ({}, at most {})", rule.values.size(), max_set_values));
      }
    }
    if (static_cast<unsigned>(rule.op) > static_cast<unsigned>(RuleOp::present)) {
      fail(child(at, "op"), "unknown operator");
    }
    check_factor(rule.factor, child(at, "factor"));
  }
}

// Marks every minute of the week each window covers; a minute marked twice is an overlap.
void check_windows(const std::vector<TtlWindow>& windows, const std::string& path) {
  if (windows.size() > max_windows) {
    fail(path, fmt::format("too many windows ({}, at most {})", windows.size(), max_windows));
  }
  for (std::size_t i = 0; i < windows.size(); ++i) {
    const TtlWindow& w = windows[i];
    const std::string at = index(path, i);
    if (w.from_minute < 0 || w.from_minute >= minutes_per_day) {
      fail(child(at, "from"), fmt::format("minute {} is outside 00:00-23:59", w.from_minute));
    }
    if (w.to_minute <= 0 || w.to_minute > minutes_per_day) {
      fail(child(at, "to"), fmt::format("minute {} is outside 00:01-24:00", w.to_minute));
    }
    if (w.from_minute == w.to_minute) {
      fail(at, fmt::format("empty window: from and to are both {} (use 00:00-24:00 for a "
                           "whole day)",
                           clock_text(w.from_minute)));
    }
    if (w.days == 0 || (w.days & ~days::every_day) != 0) {
      fail(child(at, "days"), "must name at least one day, and only mon..sun");
    }
    check_factor(w.factor, child(at, "factor"));
  }
  // Each window's spans on the week line, sorted: an overlap is a span starting before the
  // furthest end seen so far. n log n in the number of spans, whatever the windows' lengths
  // (marking every minute of the week cost 10080 steps per list, a lot over 65536 types).
  struct Span {
    int start;
    int end;
    std::size_t owner;
  };
  std::vector<Span> spans;
  spans.reserve(windows.size() * 14);
  for (std::size_t i = 0; i < windows.size(); ++i) {
    const TtlWindow& w = windows[i];
    const int length = w.to_minute > w.from_minute ? w.to_minute - w.from_minute
                                                   : minutes_per_day - w.from_minute + w.to_minute;
    for (int d = 0; d < 7; ++d) {
      if ((w.days & (1U << static_cast<unsigned>(d))) == 0) continue;
      const int start = d * minutes_per_day + w.from_minute;
      const int end = start + length;
      spans.push_back({start, std::min(end, minutes_per_week), i});
      if (end > minutes_per_week) spans.push_back({0, end - minutes_per_week, i});  // Sun -> Mon
    }
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.start != b.start ? a.start < b.start : a.owner < b.owner;
  });
  const Span* furthest = nullptr;
  for (const Span& span : spans) {
    if (furthest != nullptr && span.start < furthest->end) {
      // Reported at the later window of the two, as a reader of the list would find it.
      const std::size_t later = std::max(span.owner, furthest->owner);
      const std::size_t earlier = std::min(span.owner, furthest->owner);
      const int minute = span.start;
      fail(index(path, later),
           fmt::format("window {} overlaps {} ({}) on {} at {}",
                       json_quote(window_display_name(windows[later])), index(path, earlier),
                       json_quote(window_display_name(windows[earlier])),
                       day_names[static_cast<std::size_t>(minute / minutes_per_day)],
                       clock_text(minute % minutes_per_day)));
    }
    if (furthest == nullptr || span.end > furthest->end) furthest = &span;
  }
}

void check_max_factor(double factor, const std::string& path) {
  if (!(factor >= 1.0 && factor <= max_adaptive_factor)) {
    fail(path, fmt::format("must be a number from 1 to {:g}, got {}", max_adaptive_factor, factor));
  }
}

void check_adaptive(const AdaptiveTtl& a, const std::string& path) {
  check_max_factor(a.max_factor, child(path, "max_factor"));
  if (!(a.smoothing > 0.0 && a.smoothing <= 1.0)) {
    fail(child(path, "smoothing"), fmt::format("must be in (0, 1], got {}", a.smoothing));
  }
  if (a.burst_window.count() < 0 ||
      static_cast<double>(a.burst_window.count()) > max_seconds * 1000.0) {
    fail(child(path, "burst_window"),
         fmt::format("must be from 0 to 10 years, got {}", seconds_text(a.burst_window.count())));
  }
  if (!(a.target_ratio > 0.0 && a.target_ratio <= max_adaptive_factor)) {
    fail(child(path, "target_ratio"),
         fmt::format("must be > 0 and at most {:g}, got {}", max_adaptive_factor, a.target_ratio));
  }
  if (a.max_groups > max_adaptive_groups) {
    fail(child(path, "max_groups"),
         fmt::format("must be from 0 to {}, got {}", max_adaptive_groups, a.max_groups));
  }
}

std::string offset_text(std::chrono::minutes offset) {
  const auto total = offset.count();
  if (total == 0) return "UTC";
  const auto magnitude = total < 0 ? -total : total;
  return fmt::format("UTC{}{:02}:{:02}", total < 0 ? '-' : '+', magnitude / 60, magnitude % 60);
}

void validate_config(const DynamicTtlConfig& c) {
  check_duration(c.default_ttl, "$.default_ttl");
  check_duration(c.min_ttl, "$.min_ttl");
  check_duration(c.max_ttl, "$.max_ttl");
  if (c.min_ttl > c.max_ttl) {
    fail("$.min_ttl",
         fmt::format("min_ttl ({}) is greater than max_ttl ({})", seconds_text(c.min_ttl.count()),
                     seconds_text(c.max_ttl.count())));
  }
  check_percent(c.jitter_percent, "$.jitter_percent");
  check_adaptive(c.adaptive, "$.adaptive");
  if (c.utc_offset &&
      (c.utc_offset->count() < -max_offset_minutes || c.utc_offset->count() > max_offset_minutes)) {
    fail("$.time_zone",
         fmt::format("UTC offset {} min is outside -18:00..+18:00", c.utc_offset->count()));
  }
  check_rules(c.rules, "$.rules");
  check_windows(c.windows, "$.windows");
  if (c.content_types.size() > max_content_types) {
    fail("$.content_types", fmt::format("too many content types ({}, at most {})",
                                        c.content_types.size(), max_content_types));
  }
  std::set<std::string_view> names;
  for (const ContentTypeTtl& t : c.content_types) {
    const std::string at = child("$.content_types", t.name);
    if (t.name.empty()) fail(at, "content type name must not be empty");
    if (!names.insert(t.name).second) fail(at, "duplicate content type");
    check_duration(t.ttl, child(at, "ttl"));
    if (t.min_ttl) check_duration(*t.min_ttl, child(at, "min_ttl"));
    if (t.max_ttl) check_duration(*t.max_ttl, child(at, "max_ttl"));
    const auto min = t.min_ttl.value_or(c.min_ttl);
    const auto max = t.max_ttl.value_or(c.max_ttl);
    if (min > max) {
      fail(child(at, t.min_ttl ? "min_ttl" : "max_ttl"),
           fmt::format("min_ttl ({}{}) is greater than max_ttl ({}{})", seconds_text(min.count()),
                       t.min_ttl ? "" : ", from $.min_ttl", seconds_text(max.count()),
                       t.max_ttl ? "" : ", from $.max_ttl"));
    }
    if (t.jitter_percent) check_percent(*t.jitter_percent, child(at, "jitter_percent"));
    if (t.rules) check_rules(*t.rules, child(at, "rules"));
    check_rules(t.extra_rules, child(at, "extra_rules"));
    if (t.rules && t.rules->size() + t.extra_rules.size() > max_rules) {
      fail(at, fmt::format("too many rules ({}, at most {})",
                           t.rules->size() + t.extra_rules.size(), max_rules));
    }
    if (t.windows) check_windows(*t.windows, child(at, "windows"));
    if (t.adaptive_max_factor)
      check_max_factor(*t.adaptive_max_factor, child(at, "adaptive_max_factor"));
  }
}

// ---- JSON reading ----

// A SAX handler that builds the DOM and enforces the limits while parsing, so a hostile
// document costs time in proportion to the part read before the first violation, not to its
// size: duplicate keys (nlohmann keeps the last one silently), nesting depth, and the number of
// members of every object and array (content types, rules, windows, set values...). It tracks
// the JSON path so each error names it, and records the order of the content types (the
// std::map-backed DOM sorts them). Not nlohmann's parser callback: its DOM builder scans the
// whole parent object for a discarded member at the end of each nested object, which made
// loading quadratic in the number of content types written as objects.
class DomBuilder {
 public:
  bool null() { return scalar(In(nullptr)); }
  bool boolean(bool v) { return scalar(In(v)); }
  bool number_integer(In::number_integer_t v) { return scalar(In(v)); }
  bool number_unsigned(In::number_unsigned_t v) { return scalar(In(v)); }
  bool number_float(In::number_float_t v, const In::string_t& text) {
    // nlohmann's own DOM parser rejects these too (out_of_range 406); found by fuzzing.
    if (!std::isfinite(v)) fail("$", fmt::format("invalid JSON: number overflow: {}", text));
    return scalar(In(v));
  }
  bool string(In::string_t& v) { return scalar(In(std::move(v))); }
  bool binary(In::binary_t& /*unused*/) { return scalar(In(nullptr)); }  // not produced by JSON
  bool start_object(std::size_t /*size*/) { return open(In::object()); }
  bool start_array(std::size_t /*size*/) { return open(In::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(In::string_t& k) {
    Frame& frame = stack_.back();
    if (frame.value->size() >= limit(frame.kind)) too_many(frame);
    if (frame.value->contains(k)) fail(child(path(), k), "duplicate key");
    if (frame.kind == Kind::content_types) content_type_order_.push_back(k);
    frame.last_key = std::move(k);
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/, const In::exception& e) {
    fail("$", fmt::format("invalid JSON: {}", e.what()));
  }

  In& root() noexcept { return root_; }
  // The content types' names in document order.
  const std::vector<std::string>& content_type_order() const noexcept {
    return content_type_order_;
  }

 private:
  // What a container holds, known from its key: it decides the member limit and the message.
  enum class Kind : std::uint8_t { other, content_types, rules, windows, values, days };

  struct Frame {
    In* value = nullptr;
    Kind kind = Kind::other;
    std::string segment;
    std::string last_key;
  };

  // Where the next value goes: the root, the end of the open array, or the open object's key.
  In& slot(In value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return root_;
    }
    Frame& top = stack_.back();
    if (top.value->is_array()) {
      if (top.value->size() >= limit(top.kind)) too_many(top);
      top.value->push_back(std::move(value));
      return top.value->back();
    }
    return (*top.value)[top.last_key] = std::move(value);
  }

  bool scalar(In value) {
    slot(std::move(value));
    return true;
  }

  bool open(In container) {
    std::string segment = next_segment();
    if (stack_.size() >= static_cast<std::size_t>(max_json_depth)) {
      fail(path() + segment, fmt::format("nested deeper than {} levels", max_json_depth));
    }
    const Kind kind = kind_of_next();
    Frame frame;
    frame.kind = kind;
    frame.segment = std::move(segment);
    frame.value = &slot(std::move(container));
    stack_.push_back(std::move(frame));
    return true;
  }

  bool close() {
    stack_.pop_back();
    return true;
  }

  static std::size_t limit(Kind kind) noexcept {
    switch (kind) {
      case Kind::content_types:
        return max_content_types;
      case Kind::rules:
        return max_rules;
      case Kind::windows:
        return max_windows;
      case Kind::values:
        return max_set_values;
      case Kind::days:
        return day_names.size();
      case Kind::other:
        break;
    }
    return max_object_keys;
  }

  Kind kind_of_next() const {
    if (stack_.empty() || stack_.back().value->is_array()) return Kind::other;
    const std::string& key = stack_.back().last_key;
    if (key == "content_types" && stack_.size() == 1) return Kind::content_types;
    if (key == "rules" || key == "extra_rules") return Kind::rules;
    if (key == "windows") return Kind::windows;
    if (key == "values") return Kind::values;
    if (key == "days") return Kind::days;
    return Kind::other;
  }

  [[noreturn]] void too_many(const Frame& frame) const {
    static constexpr std::array<std::string_view, 6> what = {"members", "content types", "rules",
                                                             "windows", "values",        "days"};
    fail(path(), fmt::format("too many {} (more than {}); rejected while parsing",
                             what[static_cast<std::size_t>(frame.kind)], limit(frame.kind)));
  }

  std::string path() const {
    std::string out;
    for (const auto& frame : stack_) out += frame.segment;
    return out;
  }
  std::string next_segment() const {
    if (stack_.empty()) return "$";
    const Frame& top = stack_.back();
    if (top.value->is_array()) return fmt::format("[{}]", top.value->size());
    return child("", top.last_key);
  }

  In root_;
  std::vector<Frame> stack_;
  std::vector<std::string> content_type_order_;
};

void expect_object(const In& v, const std::string& path) {
  if (!v.is_object()) fail(path, fmt::format("expected an object, got {}", v.type_name()));
}

void expect_array(const In& v, const std::string& path) {
  if (!v.is_array()) fail(path, fmt::format("expected an array, got {}", v.type_name()));
}

void check_keys(const In& object, const std::string& path,
                std::initializer_list<std::string_view> allowed) {
  for (const auto& item : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) != allowed.end()) continue;
    std::string list;
    for (const auto key : allowed) {
      if (!list.empty()) list += ", ";
      list += key;
    }
    fail(child(path, item.key()), fmt::format("unknown key (expected one of: {})", list));
  }
}

const In* member(const In& object, std::string_view key) {
  const auto it = object.find(std::string(key));
  return it == object.end() ? nullptr : &*it;
}

const In& required(const In& object, const std::string& path, std::string_view key) {
  const In* v = member(object, key);
  if (v == nullptr) fail(child(path, key), "required key is missing");
  return *v;
}

double read_number(const In& v, const std::string& path) {
  if (!v.is_number()) fail(path, fmt::format("expected a number, got {}", v.type_name()));
  return v.get<double>();
}

std::string read_string(const In& v, const std::string& path) {
  if (!v.is_string()) fail(path, fmt::format("expected a string, got {}", v.type_name()));
  return v.get<std::string>();
}

std::chrono::milliseconds read_seconds(const In& v, const std::string& path) {
  const double seconds = read_number(v, path);
  if (!(seconds > 0.0)) {
    fail(path, fmt::format("must be a positive number of seconds, got {}", v.dump()));
  }
  if (seconds > max_seconds) {
    fail(path, fmt::format("must be at most {} s (10 years), got {}",
                           static_cast<std::int64_t>(max_seconds), v.dump()));
  }
  const auto ms = std::llround(seconds * 1000.0);
  if (ms < 1) fail(path, fmt::format("must be at least 0.001 s, got {}", v.dump()));
  return std::chrono::milliseconds(ms);
}

double read_factor(const In& v, const std::string& path) {
  const double factor = read_number(v, path);
  check_factor(factor, path);
  return factor;
}

double read_percent(const In& v, const std::string& path) {
  const double percent = read_number(v, path);
  check_percent(percent, path);
  return percent;
}

ContextValue read_scalar(const In& v, const std::string& path) {
  if (v.is_boolean()) return ContextValue(v.get<bool>());
  if (v.is_number()) return ContextValue(v.get<double>());
  if (v.is_string()) return ContextValue(v.get<std::string>());
  fail(path, fmt::format("expected a boolean, number or string, got {}", v.type_name()));
}

RuleOp read_op(const In& v, const std::string& path) {
  const std::string text = read_string(v, path);
  for (auto op : {RuleOp::equal, RuleOp::not_equal, RuleOp::less, RuleOp::less_equal,
                  RuleOp::greater, RuleOp::greater_equal, RuleOp::in, RuleOp::present}) {
    if (text == op_text(op)) return op;
  }
  fail(path, fmt::format("unknown operator {} (expected ==, !=, <, <=, >, >=, in, present)",
                         json_quote(text)));
}

TtlRule read_rule(const In& v, const std::string& path) {
  expect_object(v, path);
  check_keys(v, path, {"name", "field", "op", "value", "values", "factor"});
  TtlRule rule;
  if (const In* name = member(v, "name")) rule.name = read_string(*name, child(path, "name"));
  rule.field = read_string(required(v, path, "field"), child(path, "field"));
  if (rule.field.empty()) fail(child(path, "field"), "must not be empty");
  rule.op = read_op(required(v, path, "op"), child(path, "op"));
  const In* value = member(v, "value");
  const In* values = member(v, "values");
  if (is_comparison(rule.op)) {
    if (values != nullptr) {
      fail(child(path, "values"),
           fmt::format("not used by operator {} (use \"value\")", op_text(rule.op)));
    }
    if (value == nullptr) fail(child(path, "value"), "required key is missing");
    rule.value = read_scalar(*value, child(path, "value"));
    if (is_ordering(rule.op) && !std::holds_alternative<double>(rule.value)) {
      fail(child(path, "value"),
           fmt::format("operator {} needs a number, got {}", op_text(rule.op), value->dump()));
    }
  } else if (rule.op == RuleOp::in) {
    if (value != nullptr) fail(child(path, "value"), "not used by operator in (use \"values\")");
    if (values == nullptr) fail(child(path, "values"), "required key is missing");
    const std::string at = child(path, "values");
    expect_array(*values, at);
    if (values->empty()) fail(at, "must list at least one value");
    if (values->size() > max_set_values) {
      fail(at, fmt::format("too many values ({}, at most {})", values->size(), max_set_values));
    }
    for (std::size_t i = 0; i < values->size(); ++i) {
      rule.values.push_back(read_scalar((*values)[i], index(at, i)));
    }
  } else {
    if (value != nullptr) fail(child(path, "value"), "not used by operator present");
    if (values != nullptr) fail(child(path, "values"), "not used by operator present");
  }
  rule.factor = read_factor(required(v, path, "factor"), child(path, "factor"));
  return rule;
}

std::vector<TtlRule> read_rules(const In& v, const std::string& path) {
  expect_array(v, path);
  if (v.size() > max_rules) {
    fail(path, fmt::format("too many rules ({}, at most {})", v.size(), max_rules));
  }
  std::vector<TtlRule> rules;
  rules.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) rules.push_back(read_rule(v[i], index(path, i)));
  return rules;
}

std::uint8_t read_days(const In& v, const std::string& path) {
  expect_array(v, path);
  if (v.empty()) fail(path, "must name at least one day");
  std::uint8_t mask = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string at = index(path, i);
    const std::string name = read_string(v[i], at);
    const auto it = std::find(day_names.begin(), day_names.end(), name);
    if (it == day_names.end()) {
      fail(at, fmt::format("unknown day {} (expected mon, tue, wed, thu, fri, sat, sun)",
                           json_quote(name)));
    }
    const auto bit = static_cast<std::uint8_t>(1U << static_cast<unsigned>(it - day_names.begin()));
    if ((mask & bit) != 0) fail(at, fmt::format("day {} listed twice", json_quote(name)));
    mask = static_cast<std::uint8_t>(mask | bit);
  }
  return mask;
}

TtlWindow read_window(const In& v, const std::string& path) {
  expect_object(v, path);
  check_keys(v, path, {"name", "from", "to", "days", "factor"});
  TtlWindow w;
  if (const In* name = member(v, "name")) w.name = read_string(*name, child(path, "name"));
  const std::string from_path = child(path, "from");
  const std::string to_path = child(path, "to");
  w.from_minute =
      parse_clock_or_throw(read_string(required(v, path, "from"), from_path), false, from_path);
  w.to_minute = parse_clock_or_throw(read_string(required(v, path, "to"), to_path), true, to_path);
  if (const In* d = member(v, "days")) w.days = read_days(*d, child(path, "days"));
  w.factor = read_factor(required(v, path, "factor"), child(path, "factor"));
  return w;
}

std::vector<TtlWindow> read_windows(const In& v, const std::string& path) {
  expect_array(v, path);
  if (v.size() > max_windows) {
    fail(path, fmt::format("too many windows ({}, at most {})", v.size(), max_windows));
  }
  std::vector<TtlWindow> windows;
  windows.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    windows.push_back(read_window(v[i], index(path, i)));
  }
  return windows;
}

ContentTypeTtl read_content_type(const std::string& name, const In& v, const std::string& path) {
  ContentTypeTtl t;
  t.name = name;
  if (name.empty()) fail(path, "content type name must not be empty");
  if (v.is_number()) {  // shorthand: "file_list": 60
    t.ttl = read_seconds(v, path);
    return t;
  }
  if (!v.is_object()) {
    fail(path, fmt::format("expected a number of seconds or an object, got {}", v.type_name()));
  }
  check_keys(v, path,
             {"ttl", "min_ttl", "max_ttl", "jitter_percent", "rules", "extra_rules", "windows",
              "adaptive_max_factor"});
  t.ttl = read_seconds(required(v, path, "ttl"), child(path, "ttl"));
  if (const In* m = member(v, "min_ttl")) t.min_ttl = read_seconds(*m, child(path, "min_ttl"));
  if (const In* m = member(v, "max_ttl")) t.max_ttl = read_seconds(*m, child(path, "max_ttl"));
  if (const In* j = member(v, "jitter_percent")) {
    t.jitter_percent = read_percent(*j, child(path, "jitter_percent"));
  }
  if (const In* r = member(v, "rules")) t.rules = read_rules(*r, child(path, "rules"));
  if (const In* r = member(v, "extra_rules")) {
    t.extra_rules = read_rules(*r, child(path, "extra_rules"));
  }
  if (const In* w = member(v, "windows")) t.windows = read_windows(*w, child(path, "windows"));
  if (const In* m = member(v, "adaptive_max_factor")) {
    const std::string at = child(path, "adaptive_max_factor");
    t.adaptive_max_factor = read_number(*m, at);
    check_max_factor(*t.adaptive_max_factor, at);
  }
  return t;
}

std::optional<std::chrono::minutes> read_time_zone(const In& v, const std::string& path) {
  const std::string text = read_string(v, path);
  if (text == "local") return std::nullopt;
  if (text == "UTC") return std::chrono::minutes(0);
  // "UTC+HH:MM" / "UTC-HH:MM"
  if (text.size() == 9 && text.compare(0, 3, "UTC") == 0 && (text[3] == '+' || text[3] == '-')) {
    if (const auto minute = parse_clock(std::string_view(text).substr(4), false)) {
      if (*minute <= max_offset_minutes) {
        return std::chrono::minutes(text[3] == '-' ? -*minute : *minute);
      }
    }
  }
  fail(path, fmt::format("malformed time zone {}: expected \"local\", \"UTC\" or "
                         "\"UTC+HH:MM\"/\"UTC-HH:MM\" within 18:00",
                         json_quote(text)));
}

AdaptiveTtl read_adaptive(const In& v, const std::string& path) {
  expect_object(v, path);
  check_keys(v, path,
             {"enabled", "max_factor", "smoothing", "burst_window", "target_ratio", "max_groups"});
  AdaptiveTtl a;
  if (const In* e = member(v, "enabled")) {
    if (!e->is_boolean()) {
      fail(child(path, "enabled"), fmt::format("expected a boolean, got {}", e->type_name()));
    }
    a.enabled = e->get<bool>();
  }
  if (const In* m = member(v, "max_factor"))
    a.max_factor = read_number(*m, child(path, "max_factor"));
  if (const In* m = member(v, "smoothing")) a.smoothing = read_number(*m, child(path, "smoothing"));
  if (const In* m = member(v, "burst_window")) {
    const std::string at = child(path, "burst_window");
    const double seconds = read_number(*m, at);
    if (!(seconds >= 0.0 && seconds <= max_seconds)) {
      fail(at, fmt::format("must be from 0 to {} s, got {}", static_cast<std::int64_t>(max_seconds),
                           m->dump()));
    }
    a.burst_window = std::chrono::milliseconds(std::llround(seconds * 1000.0));
  }
  if (const In* m = member(v, "target_ratio")) {
    a.target_ratio = read_number(*m, child(path, "target_ratio"));
  }
  if (const In* m = member(v, "max_groups")) {
    const std::string at = child(path, "max_groups");
    if (!m->is_number_unsigned() && !(m->is_number_integer() && m->get<std::int64_t>() >= 0)) {
      fail(at,
           fmt::format("expected an integer from 0 to {}, got {}", max_adaptive_groups, m->dump()));
    }
    const auto n = m->get<std::uint64_t>();
    if (n > max_adaptive_groups) {
      fail(at, fmt::format("must be from 0 to {}, got {}", max_adaptive_groups, n));
    }
    a.max_groups = static_cast<std::size_t>(n);
  }
  check_adaptive(a, path);
  return a;
}

DynamicTtlConfig read_config(const In& root, const std::vector<std::string>& order) {
  const std::string path = "$";
  expect_object(root, path);
  check_keys(root, path,
             {"version", "time_zone", "default_ttl", "min_ttl", "max_ttl", "jitter_percent", "seed",
              "content_types", "rules", "windows", "adaptive"});
  DynamicTtlConfig c;
  if (const In* v = member(root, "version")) {
    if (!v->is_number_integer() || v->get<std::int64_t>() != 1) {
      fail(child(path, "version"), fmt::format("unsupported version {} (expected 1)", v->dump()));
    }
  }
  if (const In* v = member(root, "time_zone")) {
    c.utc_offset = read_time_zone(*v, child(path, "time_zone"));
  }
  if (const In* v = member(root, "default_ttl")) {
    c.default_ttl = read_seconds(*v, child(path, "default_ttl"));
  }
  if (const In* v = member(root, "min_ttl")) c.min_ttl = read_seconds(*v, child(path, "min_ttl"));
  if (const In* v = member(root, "max_ttl")) c.max_ttl = read_seconds(*v, child(path, "max_ttl"));
  if (const In* v = member(root, "jitter_percent")) {
    c.jitter_percent = read_percent(*v, child(path, "jitter_percent"));
  }
  if (const In* v = member(root, "seed")) {
    if (v->is_number_unsigned()) {
      c.seed = v->get<std::uint64_t>();
    } else if (!v->is_null()) {
      fail(child(path, "seed"),
           fmt::format("expected an integer from 0 to 2^64-1 or null, got {}", v->dump()));
    }
  }
  if (const In* v = member(root, "content_types")) {
    const std::string at = child(path, "content_types");
    expect_object(*v, at);
    if (v->size() > max_content_types) {
      fail(at,
           fmt::format("too many content types ({}, at most {})", v->size(), max_content_types));
    }
    // In document order (the DOM is sorted); each lookup is logarithmic, so this is n log n.
    c.content_types.reserve(order.size());
    for (const std::string& name : order) {
      const auto it = v->find(name);
      if (it == v->end()) continue;  // cannot happen: the tracker saw every key of this object
      c.content_types.push_back(read_content_type(name, *it, child(at, name)));
    }
  }
  if (const In* v = member(root, "rules")) c.rules = read_rules(*v, child(path, "rules"));
  if (const In* v = member(root, "windows")) c.windows = read_windows(*v, child(path, "windows"));
  if (const In* v = member(root, "adaptive"))
    c.adaptive = read_adaptive(*v, child(path, "adaptive"));
  validate_config(c);  // what a single value cannot show: min > max, overlaps
  return c;
}

// ---- JSON writing ----

Json seconds_json(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return Json(ms.count() / 1000);
  return Json(static_cast<double>(ms.count()) / 1000.0);
}

Json scalar_json(const ContextValue& v) {
  if (const auto* b = std::get_if<bool>(&v)) return Json(*b);
  if (const auto* d = std::get_if<double>(&v)) {
    // Integral values print as integers ("< 1", not "< 1.0"); they read back as the same double.
    if (std::isfinite(*d) && std::trunc(*d) == *d && std::fabs(*d) < 9.0e15) {
      return Json(static_cast<std::int64_t>(*d));
    }
    return Json(*d);
  }
  return Json(std::get<std::string>(v));
}

Json rules_json(const std::vector<TtlRule>& rules) {
  Json out = Json::array();
  for (const TtlRule& rule : rules) {
    Json r = Json::object();
    if (!rule.name.empty()) r["name"] = rule.name;
    r["field"] = rule.field;
    r["op"] = std::string(op_text(rule.op));
    if (is_comparison(rule.op)) r["value"] = scalar_json(rule.value);
    if (rule.op == RuleOp::in) {
      Json values = Json::array();
      for (const auto& v : rule.values) values.push_back(scalar_json(v));
      r["values"] = std::move(values);
    }
    r["factor"] = rule.factor;
    out.push_back(std::move(r));
  }
  return out;
}

Json windows_json(const std::vector<TtlWindow>& windows) {
  Json out = Json::array();
  for (const TtlWindow& w : windows) {
    Json j = Json::object();
    if (!w.name.empty()) j["name"] = w.name;
    j["from"] = clock_text(w.from_minute);
    j["to"] = clock_text(w.to_minute);
    if (w.days != days::every_day) {
      Json d = Json::array();
      for (std::size_t i = 0; i < day_names.size(); ++i) {
        if ((w.days & (1U << i)) != 0) d.push_back(std::string(day_names[i]));
      }
      j["days"] = std::move(d);
    }
    j["factor"] = w.factor;
    out.push_back(std::move(j));
  }
  return out;
}

Json config_json(const DynamicTtlConfig& c) {
  Json root = Json::object();
  root["version"] = 1;
  root["time_zone"] = c.utc_offset ? offset_text(*c.utc_offset) : std::string("local");
  root["default_ttl"] = seconds_json(c.default_ttl);
  root["min_ttl"] = seconds_json(c.min_ttl);
  root["max_ttl"] = seconds_json(c.max_ttl);
  root["jitter_percent"] = c.jitter_percent;
  if (c.seed) root["seed"] = *c.seed;
  Json types = Json::object();
  for (const ContentTypeTtl& t : c.content_types) {
    const bool plain = !t.min_ttl && !t.max_ttl && !t.jitter_percent && !t.rules &&
                       !t.adaptive_max_factor && t.extra_rules.empty() && !t.windows;
    if (plain) {
      types[t.name] = seconds_json(t.ttl);
      continue;
    }
    Json j = Json::object();
    j["ttl"] = seconds_json(t.ttl);
    if (t.min_ttl) j["min_ttl"] = seconds_json(*t.min_ttl);
    if (t.max_ttl) j["max_ttl"] = seconds_json(*t.max_ttl);
    if (t.jitter_percent) j["jitter_percent"] = *t.jitter_percent;
    if (t.rules) j["rules"] = rules_json(*t.rules);
    if (!t.extra_rules.empty()) j["extra_rules"] = rules_json(t.extra_rules);
    if (t.windows) j["windows"] = windows_json(*t.windows);
    if (t.adaptive_max_factor) j["adaptive_max_factor"] = *t.adaptive_max_factor;
    types[t.name] = std::move(j);
  }
  root["content_types"] = std::move(types);
  root["rules"] = rules_json(c.rules);
  root["windows"] = windows_json(c.windows);
  if (!(c.adaptive == AdaptiveTtl{})) {  // absent from policies that never set it
    Json a = Json::object();
    a["enabled"] = c.adaptive.enabled;
    a["max_factor"] = c.adaptive.max_factor;
    a["smoothing"] = c.adaptive.smoothing;
    a["burst_window"] = seconds_json(c.adaptive.burst_window);
    a["target_ratio"] = c.adaptive.target_ratio;
    a["max_groups"] = c.adaptive.max_groups;
    root["adaptive"] = std::move(a);
  }
  return root;
}

// ---- the compiled form read by the hot path ----

constexpr std::size_t stripe_count = 8;

// One cache line each, so threads on different stripes never contend.
struct alignas(64) Stripe {
  std::atomic<std::uint64_t> value{0};
};

// A thread's stripe, fixed for its lifetime: threads get consecutive stripes as they first call.
std::size_t thread_stripe() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t stripe =
      next.fetch_add(1, std::memory_order_relaxed) % stripe_count;
  return stripe;
}

struct CompiledRule {
  std::string name;
  std::string field;
  RuleOp op = RuleOp::present;
  ContextValue operand;
  double number = 0.0;  // operand of the ordering operators, unpacked once
  std::vector<ContextValue> set;
  double factor = 1.0;
};

struct CompiledWindow {
  std::string name;
  int from = 0;
  int to = 0;
  unsigned days = 0;
  double factor = 1.0;
};

// What adaptation learned about one content type. Created on the first load that lists the
// type with adaptation on, and kept (never freed before the policy) so compiled configs may
// point at it across reloads without a lock.
struct AdaptiveSlot {
  std::mutex mutex;
  // Guarded by mutex; times are steady-clock nanoseconds.
  bool started = false;
  std::int64_t first_ns = 0;
  std::int64_t last_seen_ns = 0;
  std::int64_t last_change_ns = 0;   // the last counted unseen change (or the first observation)
  std::int64_t last_confirm_ns = 0;  // the last counted unchanged reload with an age
  double log_estimate_ms = 0.0;      // log of the estimated interval between unseen changes
  std::uint64_t changes = 0;         // unseen changes (reload_changed), bursts included
  std::uint64_t counted = 0;         // unseen changes that moved the estimate
  std::uint64_t told = 0;            // told changes (writes, invalidations): never shorten
  std::uint64_t reads = 0;
  // Published for ttl_for: the interval the factor derives from; 0 = nothing learned yet.
  std::atomic<double> interval_ms{0.0};

  // A type's key groups (empty in a group's own slot), by name: std::map for lookups by
  // string_view without allocating. Guarded by groups_mutex (shared for lookups); a group's
  // slot lives until adaptation is turned off, which clears them under the exclusive lock.
  mutable std::shared_mutex groups_mutex;
  std::map<std::string, std::unique_ptr<AdaptiveSlot>, std::less<>> groups;
  // Observations naming a group that got no slot (the bound was reached).
  std::atomic<std::uint64_t> untracked{0};

  void reset() {
    started = false;
    first_ns = last_seen_ns = last_change_ns = last_confirm_ns = 0;
    log_estimate_ms = 0.0;
    changes = counted = told = reads = 0;
    interval_ms.store(0.0, std::memory_order_relaxed);
  }
};

struct CompiledType {
  std::string name;
  double base_ms = 0.0;
  double min_ms = 0.0;
  double max_ms = 0.0;
  double jitter = 0.0;  // fraction: 0.1 for 10 %
  std::uint32_t rules_begin = 0;
  std::uint32_t rules_end = 0;
  std::uint32_t windows_begin = 0;
  std::uint32_t windows_end = 0;
  AdaptiveSlot* slot = nullptr;  // set when adaptation is on for this type
  double max_factor = 1.0;       // the adaptive factor's bound
};

}  // namespace

struct DynamicTtlCompiled {
  DynamicTtlConfig source;          // for config() and to_json()
  std::vector<CompiledType> types;  // sorted by name
  CompiledType fallback;            // unknown content types
  std::vector<CompiledRule> rules;  // every rule list, back to back
  std::vector<CompiledWindow> windows;
  bool local_time = true;
  int offset_minutes = 0;
  std::uint64_t seed = 0;
  bool seeded = false;
  // Jitter counters, restarting at each load. Unseeded draws use per-thread stripes so threads do
  // not contend; seeded draws share one counter so the n-th draw depends only on seed and n,
  // never on which stripe a thread happened to get.
  mutable std::array<Stripe, stripe_count> draws;
  mutable Stripe seeded_draws;
  AdaptiveTtl adaptive;  // copy of source.adaptive, read by observe
};

struct DynamicTtlState {
  std::shared_ptr<const Clock> clock;
  std::atomic<const DynamicTtlCompiled*> current{nullptr};
  mutable std::array<Stripe, stripe_count> readers;
  // (UTC minute << 16) | (offset + 0x8000): one word, so a reader never sees a torn pair.
  mutable std::atomic<std::uint64_t> offset_cache{~std::uint64_t{0}};
  std::mutex reload_mutex;
  std::vector<std::unique_ptr<const DynamicTtlCompiled>> retired;  // guarded by reload_mutex
  // Adaptive estimates by content type name; guarded by reload_mutex (the map, not the slots).
  std::map<std::string, std::unique_ptr<AdaptiveSlot>, std::less<>> slots;
  // Key groups with a slot, over all types (bounded by AdaptiveTtl::max_groups).
  std::atomic<std::size_t> group_count{0};

  // Points the new config's types at their slots, creating missing ones. Called under
  // reload_mutex before publishing. @throws std::bad_alloc (nothing published yet).
  void attach_slots(DynamicTtlCompiled& next) {
    if (!next.adaptive.enabled) return;
    for (CompiledType& t : next.types) {
      if (t.max_factor <= 1.0) continue;
      auto it = slots.find(t.name);
      if (it == slots.end()) it = slots.emplace(t.name, std::make_unique<AdaptiveSlot>()).first;
      t.slot = it->second.get();
    }
  }

  ~DynamicTtlState() { delete current.load(); }

  // Frees retired configs once no reader can hold one. A reader that loaded a retired pointer
  // incremented its stripe before the exchange that retired it (both seq_cst); so once each
  // stripe has been seen at zero after that exchange, it has finished. Readers hold a config for
  // well under a microsecond; under constant load we give up after a few rounds and retry at the
  // next reload (or in the destructor).
  void reclaim() {
    std::array<bool, stripe_count> quiet{};
    for (int round = 0; round < 100; ++round) {
      bool all = true;
      for (std::size_t i = 0; i < stripe_count; ++i) {
        if (!quiet[i]) quiet[i] = readers[i].value.load(std::memory_order_seq_cst) == 0;
        all = all && quiet[i];
      }
      if (all) {
        retired.clear();
        return;
      }
      std::this_thread::yield();
    }
  }
};

namespace {

class ReadGuard {
 public:
  explicit ReadGuard(const DynamicTtlState& state) noexcept
      : counter_(state.readers[thread_stripe()].value) {
    counter_.fetch_add(1, std::memory_order_seq_cst);
    compiled_ = state.current.load(std::memory_order_seq_cst);
  }
  ~ReadGuard() { counter_.fetch_sub(1, std::memory_order_release); }
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;

  const DynamicTtlCompiled& get() const noexcept { return *compiled_; }

 private:
  std::atomic<std::uint64_t>& counter_;
  const DynamicTtlCompiled* compiled_ = nullptr;
};

std::uint64_t random_seed() {
  try {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32U) ^ device();
  } catch (...) {
    // No entropy source: the clock still keeps processes started together apart.
    return mix64(static_cast<std::uint64_t>(
        std::chrono::high_resolution_clock::now().time_since_epoch().count()));
  }
}

std::uint32_t append_rules(std::vector<CompiledRule>& out, const std::vector<TtlRule>& rules) {
  for (const TtlRule& rule : rules) {
    CompiledRule c;
    c.name = rule_display_name(rule);
    c.field = rule.field;
    c.op = rule.op;
    c.operand = rule.value;
    if (const auto* d = std::get_if<double>(&rule.value)) c.number = *d;
    if (rule.op == RuleOp::in) c.set = rule.values;
    c.factor = rule.factor;
    out.push_back(std::move(c));
  }
  return static_cast<std::uint32_t>(out.size());
}

std::uint32_t append_windows(std::vector<CompiledWindow>& out,
                             const std::vector<TtlWindow>& windows) {
  for (const TtlWindow& w : windows) {
    out.push_back(
        CompiledWindow{window_display_name(w), w.from_minute, w.to_minute, w.days, w.factor});
  }
  return static_cast<std::uint32_t>(out.size());
}

std::unique_ptr<DynamicTtlCompiled> compile(DynamicTtlConfig config) {
  validate_config(config);
  auto c = std::make_unique<DynamicTtlCompiled>();
  const std::uint32_t global_rules_end = append_rules(c->rules, config.rules);
  const std::uint32_t global_windows_end = append_windows(c->windows, config.windows);
  const auto make_type = [&](std::string name, std::chrono::milliseconds base,
                             const ContentTypeTtl* t) {
    CompiledType ct;
    ct.name = std::move(name);
    ct.base_ms = static_cast<double>(base.count());
    ct.min_ms = static_cast<double>((t && t->min_ttl ? *t->min_ttl : config.min_ttl).count());
    ct.max_ms = static_cast<double>((t && t->max_ttl ? *t->max_ttl : config.max_ttl).count());
    ct.jitter = (t && t->jitter_percent ? *t->jitter_percent : config.jitter_percent) / 100.0;
    ct.rules_begin = 0;
    ct.rules_end = global_rules_end;
    if (t && (t->rules || !t->extra_rules.empty())) {
      // A type with its own rule list gets a private contiguous copy: the hot path then
      // scans one range whatever the override.
      ct.rules_begin = static_cast<std::uint32_t>(c->rules.size());
      append_rules(c->rules, t->rules ? *t->rules : config.rules);
      ct.rules_end = append_rules(c->rules, t->extra_rules);
    }
    ct.windows_begin = 0;
    ct.windows_end = global_windows_end;
    if (t && t->windows) {
      ct.windows_begin = static_cast<std::uint32_t>(c->windows.size());
      ct.windows_end = append_windows(c->windows, *t->windows);
    }
    ct.max_factor = !config.adaptive.enabled      ? 1.0
                    : t && t->adaptive_max_factor ? *t->adaptive_max_factor
                                                  : config.adaptive.max_factor;
    return ct;
  };
  c->fallback = make_type("", config.default_ttl, nullptr);
  for (const ContentTypeTtl& t : config.content_types) {
    c->types.push_back(make_type(t.name, t.ttl, &t));
  }
  std::sort(c->types.begin(), c->types.end(),
            [](const CompiledType& a, const CompiledType& b) { return a.name < b.name; });
  c->local_time = !config.utc_offset.has_value();
  c->offset_minutes = config.utc_offset ? static_cast<int>(config.utc_offset->count()) : 0;
  c->seed = config.seed ? *config.seed : random_seed();
  c->seeded = config.seed.has_value();
  c->adaptive = config.adaptive;
  c->source = std::move(config);
  return c;
}

// ---- evaluation ----

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Days since 1970-01-01 of a proleptic Gregorian date (era-based: exact for every year).
std::int64_t days_from_civil(std::int64_t y, int m, int d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = floor_div(y, 400);
  const std::int64_t yoe = y - era * 400;
  const std::int64_t mp = m > 2 ? m - 3 : m + 9;
  const std::int64_t doy = (153 * mp + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// The process's UTC offset at that instant, from the C library's zone database.
int lookup_local_offset(std::int64_t utc_seconds) noexcept {
  const auto t = static_cast<std::time_t>(utc_seconds);
  std::tm local{};
#if defined(_WIN32)
  if (localtime_s(&local, &t) != 0) return 0;
#else
  if (localtime_r(&t, &local) == nullptr) return 0;
#endif
  const std::int64_t local_seconds =
      days_from_civil(local.tm_year + 1900LL, local.tm_mon + 1, local.tm_mday) * 86400 +
      local.tm_hour * 3600LL + local.tm_min * 60LL + local.tm_sec;
  const std::int64_t offset = floor_div(local_seconds - utc_seconds, 60);
  return offset >= -minutes_per_day && offset <= minutes_per_day ? static_cast<int>(offset) : 0;
}

struct LocalTime {
  int minute = 0;   // of the day
  int weekday = 0;  // 0 = Monday
};

LocalTime local_time(const DynamicTtlState& state, const DynamicTtlCompiled& c) noexcept {
  const auto wall = state.clock ? state.clock->wall_now() : std::chrono::system_clock::now();
  const std::int64_t seconds =
      std::chrono::floor<std::chrono::seconds>(wall.time_since_epoch()).count();
  const std::int64_t utc_minute = floor_div(seconds, 60);
  int offset = c.offset_minutes;
  if (c.local_time) {
    // localtime_r takes the C library's zone lock, so it runs once per minute, not per call.
    const std::uint64_t packed = state.offset_cache.load(std::memory_order_relaxed);
    if ((packed & 0xFFFFU) != 0xFFFFU && static_cast<std::int64_t>(packed) >> 16 == utc_minute) {
      offset = static_cast<int>(packed & 0xFFFFU) - 0x8000;
    } else {
      offset = lookup_local_offset(utc_minute * 60);
      state.offset_cache.store((static_cast<std::uint64_t>(utc_minute) << 16U) |
                                   static_cast<std::uint64_t>(offset + 0x8000),
                               std::memory_order_relaxed);
    }
  }
  const std::int64_t local_minute = utc_minute + offset;
  const std::int64_t day = floor_div(local_minute, minutes_per_day);
  LocalTime lt;
  lt.minute = static_cast<int>(local_minute - day * minutes_per_day);
  lt.weekday = static_cast<int>(((day + 3) % 7 + 7) % 7);  // 1970-01-01 was a Thursday
  return lt;
}

bool matches(const CompiledRule& rule, const Context& context) noexcept {
  const ContextValue* v = context.find(rule.field);
  if (v == nullptr) return false;
  switch (rule.op) {
    case RuleOp::present:
      return true;
    case RuleOp::equal:
      return *v == rule.operand;
    case RuleOp::not_equal:
      return !(*v == rule.operand);
    case RuleOp::in:
      return std::any_of(rule.set.begin(), rule.set.end(),
                         [v](const ContextValue& candidate) { return *v == candidate; });
    default:
      break;
  }
  const auto* number = std::get_if<double>(v);
  if (number == nullptr) return false;
  switch (rule.op) {
    case RuleOp::less:
      return *number < rule.number;
    case RuleOp::less_equal:
      return *number <= rule.number;
    case RuleOp::greater:
      return *number > rule.number;
    case RuleOp::greater_equal:
      return *number >= rule.number;
    default:
      return false;
  }
}

const CompiledWindow* find_window(const DynamicTtlCompiled& c, const CompiledType& t,
                                  LocalTime lt) noexcept {
  const unsigned today = 1U << static_cast<unsigned>(lt.weekday);
  const unsigned yesterday = 1U << static_cast<unsigned>((lt.weekday + 6) % 7);
  for (std::uint32_t i = t.windows_begin; i < t.windows_end; ++i) {
    const CompiledWindow& w = c.windows[i];
    if (w.from < w.to) {
      if ((w.days & today) != 0 && lt.minute >= w.from && lt.minute < w.to) return &w;
    } else if (((w.days & today) != 0 && lt.minute >= w.from) ||
               ((w.days & yesterday) != 0 && lt.minute < w.to)) {
      return &w;  // wraps: the part after midnight belongs to the day the window started
    }
  }
  return nullptr;
}

const CompiledType& find_type(const DynamicTtlCompiled& c, std::string_view name) noexcept {
  const auto it = std::lower_bound(
      c.types.begin(), c.types.end(), name,
      [](const CompiledType& t, std::string_view n) { return std::string_view(t.name) < n; });
  if (it != c.types.end() && it->name == name) return *it;
  return c.fallback;
}

// The learned multiplier: target_ratio x interval / base, within [1/max_factor, max_factor].
double adaptive_factor(const DynamicTtlCompiled& c, const CompiledType& t,
                       const AdaptiveSlot& slot) noexcept {
  const double interval = slot.interval_ms.load(std::memory_order_relaxed);
  if (!(interval > 0.0)) return 1.0;
  return std::clamp(c.adaptive.target_ratio * interval / t.base_ms, 1.0 / t.max_factor,
                    t.max_factor);
}

void fill_adaptive(AdaptiveSlot& slot, double factor, TtlExplanation& out) {
  const std::lock_guard<std::mutex> lock(slot.mutex);
  out.adaptive = true;
  out.adaptive_factor = factor;
  out.change_interval =
      std::chrono::milliseconds(std::llround(slot.interval_ms.load(std::memory_order_relaxed)));
  out.observed_changes = slot.changes;
  out.counted_changes = slot.counted;
  out.told_changes = slot.told;
  out.observed_reads = slot.reads;
}

// The slot of a type's key group, or null when it has none (never observed, or beyond the
// bound). The caller holds t.slot->groups_mutex (shared or exclusive).
AdaptiveSlot* group_slot(const AdaptiveSlot& type_slot, std::string_view group) noexcept {
  const auto it = type_slot.groups.find(group);
  return it == type_slot.groups.end() ? nullptr : it->second.get();
}

// Gives a type's key group a slot unless the bound over all types is reached: true when the
// group has one now. @throws std::bad_alloc.
bool add_group(DynamicTtlState& state, AdaptiveSlot& type_slot, std::string_view group,
               std::size_t max_groups) {
  const std::unique_lock<std::shared_mutex> lock(type_slot.groups_mutex);
  if (group_slot(type_slot, group) != nullptr) return true;  // another thread added it
  if (state.group_count.load(std::memory_order_relaxed) >= max_groups) return false;
  type_slot.groups.emplace(std::string(group), std::make_unique<AdaptiveSlot>());
  state.group_count.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// Moves the log estimate toward a sample (ms), by at most 4^smoothing, and only in the
// direction allowed (lower: only down, raise: only up, both: either).
enum class Toward : std::uint8_t { both, lower, raise };
void step_toward(AdaptiveSlot& slot, const AdaptiveTtl& settings, double sample_ms,
                 Toward toward) noexcept {
  const double max_step = std::log(4.0);
  double step =
      std::clamp(std::log(std::max(sample_ms, 1.0)) - slot.log_estimate_ms, -max_step, max_step);
  if (toward == Toward::lower) step = std::min(step, 0.0);
  if (toward == Toward::raise) step = std::max(step, 0.0);
  slot.log_estimate_ms += settings.smoothing * step;
}

// One observation into a slot (under its lock): see AdaptiveTtl for the model.
// initial_ms: where a slot without history starts (the table's TTL for a type: factor 1; the
// type's current estimate for a new key group).
void learn(AdaptiveSlot& slot, const AdaptiveTtl& settings, double initial_ms,
           const TtlObservation& o, std::int64_t now_ns) noexcept {
  using Kind = TtlObservation::Kind;
  if (!slot.started) {
    // No history: assume the data just changed and that the estimate we start from is right.
    slot.started = true;
    slot.first_ns = slot.last_seen_ns = slot.last_change_ns = slot.last_confirm_ns = now_ns;
    slot.log_estimate_ms = std::log(std::max(initial_ms, 1.0));
  }
  slot.last_seen_ns = std::max(slot.last_seen_ns, now_ns);
  if (o.kind == Kind::read) ++slot.reads;
  // A change the cache was told about (a write through it, an invalidation) already updated or
  // removed the entries it concerns: it served nothing stale, so it is no reason for a shorter
  // TTL. It is counted, and like a read it lets the open interval below grow. Only an unseen
  // change (a reload found a different value: the data changed behind the cache's back, the
  // TTL was too long) feeds the estimate.
  if (o.kind == Kind::write || o.kind == Kind::invalidation) ++slot.told;
  const double age_ms = static_cast<double>(o.age.count());
  const std::int64_t burst_ns = settings.burst_window.count() * 1'000'000;
  if (o.kind == Kind::reload_changed) {
    ++slot.changes;
    const std::int64_t since_ns = now_ns - slot.last_change_ns;
    const bool merged = since_ns <= 0 || since_ns < burst_ns;
    if (!merged) {
      if (age_ms > 0.0) {
        // One key's copy changed within its age: half of it is the guess for a change time
        // spread evenly over the copy's life. Only ever lowers: a change within a long age says
        // nothing against a shorter interval.
        step_toward(slot, settings, age_ms / 2.0, Toward::lower);
      } else {
        // No age: the time since the type's previous unseen change (one stream of changes).
        step_toward(slot, settings, static_cast<double>(since_ns) / 1e6, Toward::both);
      }
      slot.last_change_ns = now_ns;
      ++slot.counted;
    }
  } else if (o.kind == Kind::reload_unchanged && age_ms > 0.0) {
    // One key's copy stayed right for its whole age: the interval is longer; twice the age is
    // the guess matching the halving above (they balance where half the reloads find a change).
    const std::int64_t since_ns = now_ns - slot.last_confirm_ns;
    if (since_ns <= 0 || since_ns >= burst_ns) {
      step_toward(slot, settings, age_ms * 2.0, Toward::raise);
      slot.last_confirm_ns = now_ns;
    }
  }
  // Time without an unseen change is a lower bound on the interval (a type that never changes
  // grows).
  const double open_ms = static_cast<double>(slot.last_seen_ns - slot.last_change_ns) / 1e6;
  slot.interval_ms.store(std::max(std::exp(slot.log_estimate_ms), open_ms),
                         std::memory_order_relaxed);
}

// The one computation behind ttl_for and explain; `out` is null on the hot path.
// group: the key group (empty: none), whose own estimate, when it has one, gives the factor.
std::int64_t evaluate(const DynamicTtlState& state, const DynamicTtlCompiled& c,
                      std::string_view content_type, std::string_view group, const Context& context,
                      TtlExplanation* out) {
  const CompiledType& t = find_type(c, content_type);
  if (out != nullptr) out->group = std::string(group);
  double ttl = t.base_ms;
  if (out != nullptr) {
    out->content_type = std::string(content_type);
    out->known_content_type = &t != &c.fallback;
    out->base = std::chrono::milliseconds(static_cast<std::int64_t>(t.base_ms));
  }
  for (std::uint32_t i = t.rules_begin; i < t.rules_end; ++i) {
    const CompiledRule& rule = c.rules[i];
    if (!matches(rule, context)) continue;
    ttl *= rule.factor;
    if (out != nullptr) out->rules.push_back({rule.name, rule.factor});
  }
  if (t.windows_begin != t.windows_end || out != nullptr) {
    const LocalTime lt = local_time(state, c);
    const CompiledWindow* w = find_window(c, t, lt);
    if (w != nullptr) ttl *= w->factor;
    if (out != nullptr) {
      out->local_minute = lt.minute;
      out->weekday = lt.weekday;
      out->window = w != nullptr ? w->name : std::string();
      out->window_factor = w != nullptr ? w->factor : 1.0;
    }
  }
  if (t.slot != nullptr) {
    if (group.empty()) {
      const double factor = adaptive_factor(c, t, *t.slot);
      ttl *= factor;
      if (out != nullptr) fill_adaptive(*t.slot, factor, *out);
    } else {
      // Shared: lookups of many threads proceed together; only a group's creation (once) and
      // turning adaptation off take it exclusively.
      const std::shared_lock<std::shared_mutex> lock(t.slot->groups_mutex);
      AdaptiveSlot* g = group_slot(*t.slot, group);
      AdaptiveSlot& source = g != nullptr ? *g : *t.slot;
      const double factor = adaptive_factor(c, t, source);
      ttl *= factor;
      if (out != nullptr) {
        fill_adaptive(source, factor, *out);
        out->group_tracked = g != nullptr;
      }
    }
  }
  if (out != nullptr) {
    out->before_clamp_ms = ttl;
    out->min_ttl = std::chrono::milliseconds(static_cast<std::int64_t>(t.min_ms));
    out->max_ttl = std::chrono::milliseconds(static_cast<std::int64_t>(t.max_ms));
    out->clamp = ttl < t.min_ms   ? TtlExplanation::Clamp::raised_to_min
                 : ttl > t.max_ms ? TtlExplanation::Clamp::lowered_to_max
                                  : TtlExplanation::Clamp::none;
    out->jitter_percent = t.jitter * 100.0;
  }
  // std::clamp also maps an infinite product (many large factors) to max.
  ttl = std::clamp(ttl, t.min_ms, t.max_ms);
  if (t.jitter > 0.0) {
    std::uint64_t x = 0;
    if (c.seeded) {
      const std::uint64_t n = c.seeded_draws.value.fetch_add(1, std::memory_order_relaxed);
      x = mix64(c.seed + (n + 1) * 0x9E3779B97F4A7C15ULL);
    } else {
      const std::size_t stripe = thread_stripe();
      const std::uint64_t n = c.draws[stripe].value.fetch_add(1, std::memory_order_relaxed);
      x = mix64(c.seed + mix64(stripe + 1) + (n + 1) * 0x9E3779B97F4A7C15ULL);
    }
    const double unit = static_cast<double>(x >> 11U) * 0x1.0p-53;  // [0, 1)
    const double factor = 1.0 + t.jitter * (2.0 * unit - 1.0);
    const double jittered = ttl * factor;
    // Re-clamped so the bounds are a promise; at a bound this narrows the spread to one side.
    ttl = std::clamp(jittered, t.min_ms, t.max_ms);
    if (out != nullptr) {
      out->jitter_factor = factor;
      out->jitter_clamped = ttl != jittered;
    }
  }
  const std::int64_t ms = std::llround(ttl);
  if (out != nullptr) out->ttl = std::chrono::milliseconds(ms < 1 ? 1 : ms);
  return ms < 1 ? 1 : ms;
}

// The file, refused before reading when it is not a regular file or is over the size cap; the
// read itself is bounded too, for files that grow meanwhile or lie about their size (/proc).
std::string read_file_text(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    throw config_error("", fmt::format("cannot open {}: no such file", json_quote(path)));
  }
  if (std::filesystem::is_directory(status)) {
    throw config_error(
        "", fmt::format("cannot read {}: it is a directory, not a policy file", json_quote(path)));
  }
  if (std::filesystem::is_regular_file(status)) {
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec && size > max_policy_bytes) {
      throw config_error("", fmt::format("cannot read {}: {} bytes, over the limit of {}",
                                         json_quote(path), size, max_policy_bytes));
    }
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error("", fmt::format("cannot open {}", json_quote(path)));
  std::string text;
  std::array<char, 65536> buffer{};
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    text.append(buffer.data(), static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_policy_bytes) {
      throw config_error("", fmt::format("cannot read {}: over the limit of {} bytes",
                                         json_quote(path), max_policy_bytes));
    }
  }
  if (in.bad()) throw config_error("", fmt::format("cannot read {}", json_quote(path)));
  return text;
}

// The reason alone: what() minus the "ttlcache config[ at <path>]: " prefix config_error adds.
std::string reason_of(const config_error& e) {
  const std::string_view what = e.what();
  const std::string prefix = e.path().empty() ? std::string("ttlcache config: ")
                                              : fmt::format("ttlcache config at {}: ", e.path());
  if (what.compare(0, prefix.size(), prefix) == 0) return std::string(what.substr(prefix.size()));
  return std::string(what);
}

}  // namespace
}  // namespace detail

// ---- public value types ----

TtlRule TtlRule::when_in(std::string field, std::initializer_list<std::string_view> values,
                         double factor, std::string name) {
  std::vector<ContextValue> set;
  for (const auto v : values) set.emplace_back(std::string(v));
  return when_in(std::move(field), std::move(set), factor, std::move(name));
}

TtlRule TtlRule::when_in(std::string field, std::initializer_list<double> values, double factor,
                         std::string name) {
  std::vector<ContextValue> set;
  for (const double v : values) set.emplace_back(v);
  return when_in(std::move(field), std::move(set), factor, std::move(name));
}

TtlRule TtlRule::when_in(std::string field, std::vector<ContextValue> values, double factor,
                         std::string name) {
  TtlRule rule;
  rule.name = std::move(name);
  rule.field = std::move(field);
  rule.op = RuleOp::in;
  rule.values = std::move(values);
  rule.factor = factor;
  return rule;
}

TtlRule TtlRule::when_present(std::string field, double factor, std::string name) {
  TtlRule rule;
  rule.name = std::move(name);
  rule.field = std::move(field);
  rule.op = RuleOp::present;
  rule.factor = factor;
  return rule;
}

TtlWindow TtlWindow::between(std::string_view from, std::string_view to, double factor,
                             std::string name, std::uint8_t days) {
  TtlWindow w;
  w.name = std::move(name);
  // The window does not know where it will go, so paths are relative to the window object.
  w.from_minute = detail::parse_clock_or_throw(from, false, "$.from");
  w.to_minute = detail::parse_clock_or_throw(to, true, "$.to");
  w.factor = factor;
  w.days = days;
  return w;
}

bool operator==(const TtlRule& a, const TtlRule& b) {
  // Only the operand the operator uses takes part: the other one is not part of the rule.
  if (a.name != b.name || a.field != b.field || a.op != b.op || a.factor != b.factor) return false;
  if (detail::is_comparison(a.op)) return a.value == b.value;
  if (a.op == RuleOp::in) return a.values == b.values;
  return true;
}

bool operator==(const TtlWindow& a, const TtlWindow& b) {
  return a.name == b.name && a.from_minute == b.from_minute && a.to_minute == b.to_minute &&
         a.factor == b.factor && a.days == b.days;
}

bool operator==(const ContentTypeTtl& a, const ContentTypeTtl& b) {
  return a.name == b.name && a.ttl == b.ttl && a.min_ttl == b.min_ttl && a.max_ttl == b.max_ttl &&
         a.jitter_percent == b.jitter_percent && a.rules == b.rules &&
         a.extra_rules == b.extra_rules && a.windows == b.windows &&
         a.adaptive_max_factor == b.adaptive_max_factor;
}

bool operator==(const AdaptiveTtl& a, const AdaptiveTtl& b) {
  return a.enabled == b.enabled && a.max_factor == b.max_factor && a.smoothing == b.smoothing &&
         a.burst_window == b.burst_window && a.target_ratio == b.target_ratio &&
         a.max_groups == b.max_groups;
}

bool operator==(const DynamicTtlConfig& a, const DynamicTtlConfig& b) {
  return a.default_ttl == b.default_ttl && a.min_ttl == b.min_ttl && a.max_ttl == b.max_ttl &&
         a.jitter_percent == b.jitter_percent && a.seed == b.seed && a.utc_offset == b.utc_offset &&
         a.content_types == b.content_types && a.rules == b.rules && a.windows == b.windows &&
         a.adaptive == b.adaptive;
}

DynamicTtlConfig DynamicTtlConfig::defaults() {
  using std::chrono::seconds;
  DynamicTtlConfig c;
  c.content_types = {
      {"user_stats", seconds(300)},     {"file_content", seconds(3600)},
      {"file_list", seconds(60)},       {"markdown_render", seconds(1800)},
      {"search_results", seconds(180)}, {"public_stats", seconds(600)},
      {"bookmarks", seconds(120)},      {"tags", seconds(300)},
      {"settings", seconds(60)},
  };
  c.rules = {
      TtlRule::when("is_favorite", RuleOp::equal, true, 1.5, "favorite"),
      TtlRule::when("last_modified_hours_ago", RuleOp::less, 1, 0.5, "recently_modified"),
      TtlRule::when("access_frequency", RuleOp::equal, "high", 2.0, "hot"),
      TtlRule::when("user_tier", RuleOp::equal, "premium", 0.7, "premium_user"),
  };
  c.windows = {
      TtlWindow::between("09:00", "18:00", 0.7, "working_hours"),
      TtlWindow::between("18:00", "23:00", 1.0, "evening"),
      TtlWindow::between("23:00", "09:00", 1.5, "night"),
  };
  return c;
}

DynamicTtlConfig DynamicTtlConfig::from_json(std::string_view json) {
  if (json.size() > detail::max_policy_bytes) {
    throw config_error("$", fmt::format("policy is {} bytes, over the limit of {}", json.size(),
                                        detail::max_policy_bytes));
  }
  detail::DomBuilder builder;
  // Limits, duplicate keys and syntax errors throw config_error from inside the handler.
  detail::In::sax_parse(json.begin(), json.end(), &builder);
  return detail::read_config(builder.root(), builder.content_type_order());
}

DynamicTtlConfig DynamicTtlConfig::from_file(const std::string& path) {
  const std::string text = detail::read_file_text(path);
  try {
    return from_json(text);
  } catch (const config_error& e) {
    // Keep the JSON path; add the file so a log line is enough to find the mistake. The new
    // error adds its own "ttlcache config at <path>: " prefix, so the old one is dropped.
    throw config_error(e.path(),
                       fmt::format("{} (in {})", detail::reason_of(e), detail::json_quote(path)));
  }
}

std::string DynamicTtlConfig::to_json(int indent) const {
  return detail::config_json(*this).dump(indent < 0 ? -1 : indent, ' ', false,
                                         detail::Json::error_handler_t::replace);
}

void DynamicTtlConfig::validate() const { detail::validate_config(*this); }

std::string TtlExplanation::to_string() const {
  std::string out = fmt::format("{}: base {}{}", detail::json_quote(content_type),
                                detail::seconds_text(base.count()),
                                known_content_type ? "" : " (default, unknown type)");
  for (const auto& rule : rules) out += fmt::format(" x{:g} ({})", rule.factor, rule.name);
  out += fmt::format(
      " x{:g} (window {} at {} {})", window_factor, window.empty() ? std::string("none") : window,
      detail::day_names[static_cast<std::size_t>(weekday % 7)], detail::clock_text(local_minute));
  if (adaptive) {
    // "unseen": found by a reload, the only kind that shortens; "told": writes and
    // invalidations through the cache, which never shorten (see AdaptiveTtl).
    // A group's own estimate, or (untracked: never observed, or beyond max_groups) the type's.
    const std::string whose =
        group.empty()   ? std::string()
        : group_tracked ? fmt::format(" of group {}", detail::json_quote(group))
                        : fmt::format(" of the type (group {} has no estimate of its own)",
                                      detail::json_quote(group));
    out += fmt::format(
        " x{:.4g} (adaptive{}: unseen change every ~{}, {} unseen changes ({} counted), {} told "
        "(never shorten), {} reads)",
        adaptive_factor, whose, detail::seconds_text(change_interval.count()), observed_changes,
        counted_changes, told_changes, observed_reads);
  }
  out += fmt::format(" = {}", detail::seconds_text(std::llround(before_clamp_ms)));
  switch (clamp) {
    case Clamp::none:
      break;
    case Clamp::raised_to_min:
      out += fmt::format(", raised to min {}", detail::seconds_text(min_ttl.count()));
      break;
    case Clamp::lowered_to_max:
      out += fmt::format(", lowered to max {}", detail::seconds_text(max_ttl.count()));
      break;
  }
  if (jitter_percent > 0.0) {
    out += fmt::format(", jitter x{:.4f} (+-{:g}%{})", jitter_factor, jitter_percent,
                       jitter_clamped ? ", re-clamped" : "");
  }
  out += fmt::format(" -> ttl {}", detail::seconds_text(ttl.count()));
  return out;
}

// ---- builder ----

DynamicTtlBuilder& DynamicTtlBuilder::default_ttl(std::chrono::milliseconds ttl) {
  config_.default_ttl = ttl;
  return *this;
}

DynamicTtlBuilder& DynamicTtlBuilder::bounds(std::chrono::milliseconds min,
                                             std::chrono::milliseconds max) {
  config_.min_ttl = min;
  config_.max_ttl = max;
  return *this;
}

DynamicTtlBuilder& DynamicTtlBuilder::jitter(double percent) {
  config_.jitter_percent = percent;
  return *this;
}

DynamicTtlBuilder& DynamicTtlBuilder::seed(std::uint64_t seed) {
  config_.seed = seed;
  return *this;
}

DynamicTtlBuilder& DynamicTtlBuilder::local_time() {
  config_.utc_offset.reset();
  return *this;
}

DynamicTtlBuilder& DynamicTtlBuilder::utc_offset(std::chrono::minutes offset) {
  config_.utc_offset = offset;
  return *this;
}

DynamicTtlBuilder& DynamicTtlBuilder::content_type(std::string name,
                                                   std::chrono::milliseconds ttl) {
  return content_type(ContentTypeTtl(std::move(name), ttl));
}

DynamicTtlBuilder& DynamicTtlBuilder::content_type(ContentTypeTtl type) {
  for (auto& existing : config_.content_types) {
    if (existing.name == type.name) {
      existing = std::move(type);
      return *this;
    }
  }
  config_.content_types.push_back(std::move(type));
  return *this;
}

DynamicTtlBuilder& DynamicTtlBuilder::rule(TtlRule rule) {
  config_.rules.push_back(std::move(rule));
  return *this;
}

DynamicTtlBuilder& DynamicTtlBuilder::window(std::string_view from, std::string_view to,
                                             double factor, std::string name, std::uint8_t days) {
  const std::string at = detail::index("$.windows", config_.windows.size());
  TtlWindow w;
  w.name = std::move(name);
  w.from_minute = detail::parse_clock_or_throw(from, false, detail::child(at, "from"));
  w.to_minute = detail::parse_clock_or_throw(to, true, detail::child(at, "to"));
  w.factor = factor;
  w.days = days;
  return window(std::move(w));
}

DynamicTtlBuilder& DynamicTtlBuilder::window(TtlWindow window) {
  config_.windows.push_back(std::move(window));
  return *this;
}

DynamicTtlBuilder& DynamicTtlBuilder::adaptive(AdaptiveTtl settings) {
  config_.adaptive = settings;
  config_.adaptive.enabled = true;
  return *this;
}

DynamicTtlBuilder& DynamicTtlBuilder::clear_rules() {
  config_.rules.clear();
  return *this;
}

DynamicTtlBuilder& DynamicTtlBuilder::clear_windows() {
  config_.windows.clear();
  return *this;
}

std::shared_ptr<DynamicTTL> DynamicTtlBuilder::build(std::shared_ptr<const Clock> clock) const {
  return std::make_shared<DynamicTTL>(config_, std::move(clock));
}

// ---- DynamicTTL ----

DynamicTTL::DynamicTTL() : DynamicTTL(DynamicTtlConfig::defaults()) {}

DynamicTTL::DynamicTTL(DynamicTtlConfig config, std::shared_ptr<const Clock> clock)
    : state_(std::make_unique<detail::DynamicTtlState>()) {
  state_->clock = std::move(clock);
  auto compiled = detail::compile(std::move(config));
  state_->attach_slots(*compiled);
  state_->current.store(compiled.release(), std::memory_order_seq_cst);
}

DynamicTTL::~DynamicTTL() = default;

std::shared_ptr<DynamicTTL> DynamicTTL::from_json(std::string_view json,
                                                  std::shared_ptr<const Clock> clock) {
  return std::make_shared<DynamicTTL>(DynamicTtlConfig::from_json(json), std::move(clock));
}

std::shared_ptr<DynamicTTL> DynamicTTL::from_file(const std::string& path,
                                                  std::shared_ptr<const Clock> clock) {
  return std::make_shared<DynamicTTL>(DynamicTtlConfig::from_file(path), std::move(clock));
}

std::chrono::milliseconds DynamicTTL::ttl_for(std::string_view content_type,
                                              const Context& context) const noexcept {
  const detail::ReadGuard guard(*state_);
  return std::chrono::milliseconds(
      detail::evaluate(*state_, guard.get(), content_type, {}, context, nullptr));
}

std::chrono::milliseconds DynamicTTL::ttl_for_group(std::string_view content_type,
                                                    std::string_view group,
                                                    const Context& context) const noexcept {
  const detail::ReadGuard guard(*state_);
  return std::chrono::milliseconds(
      detail::evaluate(*state_, guard.get(), content_type, group, context, nullptr));
}

TtlExplanation DynamicTTL::explain(std::string_view content_type, const Context& context) const {
  const detail::ReadGuard guard(*state_);
  TtlExplanation out;
  detail::evaluate(*state_, guard.get(), content_type, {}, context, &out);
  return out;
}

TtlExplanation DynamicTTL::explain(std::string_view content_type, std::string_view group,
                                   const Context& context) const {
  const detail::ReadGuard guard(*state_);
  TtlExplanation out;
  detail::evaluate(*state_, guard.get(), content_type, group, context, &out);
  return out;
}

void DynamicTTL::reload(DynamicTtlConfig config) {
  // Compiled (and validated) before anything is touched: a bad config changes nothing.
  auto next = detail::compile(std::move(config));
  const std::lock_guard<std::mutex> lock(state_->reload_mutex);
  state_->retired.reserve(state_->retired.size() + 1);  // so the push below cannot throw
  state_->attach_slots(*next);
  const bool adaptive = next->adaptive.enabled;
  const auto* previous = state_->current.exchange(next.release(), std::memory_order_seq_cst);
  state_->retired.emplace_back(previous);
  if (!adaptive) {
    // Adaptation turned off forgets what it learned: turning it on again starts afresh.
    for (auto& entry : state_->slots) {
      detail::AdaptiveSlot& slot = *entry.second;
      {
        // Exclusive: no ttl_for_group holds a group's slot while it is freed.
        const std::unique_lock<std::shared_mutex> groups_lock(slot.groups_mutex);
        slot.groups.clear();
        slot.untracked.store(0, std::memory_order_relaxed);
      }
      const std::lock_guard<std::mutex> slot_lock(slot.mutex);
      slot.reset();
    }
    state_->group_count.store(0, std::memory_order_relaxed);
  }
  state_->reclaim();
}

void DynamicTTL::observe(const TtlObservation& observation) const noexcept {
  const detail::ReadGuard guard(*state_);
  const detail::DynamicTtlCompiled& c = guard.get();
  if (!c.adaptive.enabled) return;
  const detail::CompiledType& t = detail::find_type(c, observation.content_type);
  if (t.slot == nullptr) return;
  auto at = observation.at;
  if (at == std::chrono::steady_clock::time_point{}) {
    at = state_->clock ? state_->clock->now() : std::chrono::steady_clock::now();
  }
  const std::int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
  try {
    double type_ms = 0.0;  // where a new group starts: the type's current estimate
    {
      const std::lock_guard<std::mutex> lock(t.slot->mutex);
      detail::learn(*t.slot, c.adaptive, t.base_ms / c.adaptive.target_ratio, observation, now_ns);
      type_ms = t.slot->interval_ms.load(std::memory_order_relaxed);
    }
    if (!observation.group.empty()) {
      // Under the shared lock: a reload turning adaptation off frees the groups under the
      // exclusive one, maybe while this call still holds the config from before.
      const auto learn_group = [&] {
        const std::shared_lock<std::shared_mutex> lock(t.slot->groups_mutex);
        detail::AdaptiveSlot* g = detail::group_slot(*t.slot, observation.group);
        if (g == nullptr) return false;
        const std::lock_guard<std::mutex> slot_lock(g->mutex);
        detail::learn(*g, c.adaptive, type_ms, observation, now_ns);
        return true;
      };
      if (!learn_group()) {
        if (detail::add_group(*state_, *t.slot, observation.group, c.adaptive.max_groups)) {
          learn_group();
        } else {
          t.slot->untracked.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
  } catch (...) {
    // std::mutex::lock may throw std::system_error, a new group std::bad_alloc; losing one
    // observation is harmless.
  }
}

std::vector<AdaptiveTypeStats> DynamicTTL::adaptive_stats() const {
  const detail::ReadGuard guard(*state_);
  const detail::DynamicTtlCompiled& c = guard.get();
  std::vector<AdaptiveTypeStats> out;
  for (const detail::CompiledType& t : c.types) {
    if (t.slot == nullptr) continue;
    AdaptiveTypeStats stats;
    stats.content_type = t.name;
    stats.factor = detail::adaptive_factor(c, t, *t.slot);
    {
      const std::shared_lock<std::shared_mutex> groups_lock(t.slot->groups_mutex);
      stats.groups.reserve(t.slot->groups.size());
      for (const auto& [name, g] : t.slot->groups) {
        AdaptiveGroupStats gs;
        gs.group = name;
        gs.factor = detail::adaptive_factor(c, t, *g);
        const std::lock_guard<std::mutex> lock(g->mutex);
        gs.change_interval =
            std::chrono::milliseconds(std::llround(g->interval_ms.load(std::memory_order_relaxed)));
        gs.observed_changes = g->changes;
        gs.counted_changes = g->counted;
        gs.told_changes = g->told;
        gs.observed_reads = g->reads;
        stats.groups.push_back(std::move(gs));
      }
      stats.untracked_group_observations = t.slot->untracked.load(std::memory_order_relaxed);
    }
    const std::lock_guard<std::mutex> lock(t.slot->mutex);
    stats.change_interval = std::chrono::milliseconds(
        std::llround(t.slot->interval_ms.load(std::memory_order_relaxed)));
    stats.observed_changes = t.slot->changes;
    stats.counted_changes = t.slot->counted;
    stats.told_changes = t.slot->told;
    stats.observed_reads = t.slot->reads;
    const double seconds = static_cast<double>(t.slot->last_seen_ns - t.slot->first_ns) / 1e9;
    stats.reads_per_second = seconds > 0.0 ? static_cast<double>(t.slot->reads) / seconds : 0.0;
    out.push_back(std::move(stats));
  }
  return out;
}

bool DynamicTTL::adapts() const noexcept {
  const detail::ReadGuard guard(*state_);
  return guard.get().adaptive.enabled;
}

void DynamicTTL::load_json(std::string_view json) { reload(DynamicTtlConfig::from_json(json)); }

void DynamicTTL::load_file(const std::string& path) { reload(DynamicTtlConfig::from_file(path)); }

DynamicTtlConfig DynamicTTL::config() const {
  const detail::ReadGuard guard(*state_);
  return guard.get().source;
}

std::string DynamicTTL::to_json(int indent) const { return config().to_json(indent); }

}  // namespace ttlcache

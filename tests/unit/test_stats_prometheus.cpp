// Tests that the Prometheus export follows the text exposition format's rules (a strict parser).
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ttlcache/metrics_export.hpp"
#include "ttlcache/ttlcache.hpp"

using namespace std::chrono_literals;

namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Family {
  std::string type;
  bool has_help = false;
  std::vector<Sample> samples;
};

struct Parsed {
  std::map<std::string, Family> families;
  std::vector<Sample> samples;
};

[[noreturn]] void fail(std::size_t line_no, const std::string& why, const std::string& line) {
  throw std::runtime_error("line " + std::to_string(line_no) + ": " + why + ": " + line);
}

// Hand-written rather than std::regex: g++ 12's <regex> trips -Wmaybe-uninitialized under ASan.
bool is_name(const std::string& s, bool colon_ok) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}
bool is_metric_name(const std::string& s) { return is_name(s, true); }
bool is_label_name(const std::string& s) { return is_name(s, false); }

double parse_value(const std::string& text, std::size_t line_no, const std::string& line) {
  if (text == "+Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  if (text == "NaN") return std::nan("");
  // Plain decimal or exponent notation only (strtod alone would also take "inf", hex, ...).
  const bool plain = !text.empty() &&
                     text.find_first_not_of("0123456789.eE+-") == std::string::npos &&
                     text.find_first_of("0123456789") != std::string::npos;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (!plain || end != text.c_str() + text.size()) fail(line_no, "bad value '" + text + "'", line);
  return v;
}

// The family a sample belongs to: histogram samples carry a suffix.
std::string family_of(const std::string& name, const std::map<std::string, Family>& families) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = name.substr(0, name.size() - s.size());
      auto it = families.find(base);
      if (it != families.end() && it->second.type == "histogram") return base;
    }
  }
  return name;
}

// Parses exposition text and enforces the format's rules; throws std::runtime_error naming the
// line and the rule broken.
Parsed parse_exposition(const std::string& text) {
  static const std::set<std::string> types{"counter", "gauge", "histogram", "summary", "untyped"};
  if (!text.empty() && text.back() != '\n') throw std::runtime_error("no final newline");

  Parsed out;
  std::set<std::string> finished;  // families whose block has ended
  std::string current;             // the family of the block being read
  std::set<std::string> series;
  std::istringstream in(text);
  std::string line;
  std::size_t line_no = 0;
  auto enter = [&](const std::string& family) {
    if (family == current) return;
    if (finished.count(family)) fail(line_no, "family '" + family + "' is not contiguous", line);
    if (!current.empty()) finished.insert(current);
    current = family;
  };

  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, keyword, name;
      words >> hash >> keyword >> name;
      if (keyword != "HELP" && keyword != "TYPE") continue;  // other comments are allowed
      if (!is_metric_name(name)) fail(line_no, "bad metric name", line);
      enter(name);
      Family& f = out.families[name];
      if (keyword == "TYPE") {
        std::string type;
        words >> type;
        if (!types.count(type)) fail(line_no, "unknown type", line);
        if (!f.type.empty()) fail(line_no, "second TYPE line", line);
        if (!f.samples.empty()) fail(line_no, "TYPE after samples", line);
        f.type = type;
      } else {
        if (f.has_help) fail(line_no, "second HELP line", line);
        f.has_help = true;
        // HELP text may escape only backslash and newline.
        const std::string help = line.substr(std::string("# HELP ").size() + name.size());
        for (std::size_t i = 0; i < help.size(); ++i) {
          if (help[i] == '\\') {
            if (i + 1 >= help.size() || (help[i + 1] != '\\' && help[i + 1] != 'n')) {
              fail(line_no, "bad escape in HELP", line);
            }
            ++i;
          }
        }
      }
      continue;
    }

    // A sample: name, optional {labels}, a space, a value (no timestamps from us).
    Sample s;
    std::size_t pos = 0;
    while (pos < line.size() && line[pos] != '{' && line[pos] != ' ') ++pos;
    s.name = line.substr(0, pos);
    if (!is_metric_name(s.name)) fail(line_no, "bad metric name", line);
    if (pos < line.size() && line[pos] == '{') {
      ++pos;
      while (pos < line.size() && line[pos] != '}') {
        std::size_t eq = line.find('=', pos);
        if (eq == std::string::npos) fail(line_no, "label without '='", line);
        const std::string lname = line.substr(pos, eq - pos);
        if (!is_label_name(lname) || lname.rfind("__", 0) == 0) {
          fail(line_no, "bad label name '" + lname + "'", line);
        }
        pos = eq + 1;
        if (pos >= line.size() || line[pos] != '"') fail(line_no, "label value not quoted", line);
        ++pos;
        std::string value;
        for (;;) {
          if (pos >= line.size()) fail(line_no, "unterminated label value", line);
          const char c = line[pos++];
          if (c == '"') break;
          if (c == '\\') {
            if (pos >= line.size()) fail(line_no, "dangling backslash", line);
            const char e = line[pos++];
            if (e == '\\') {
              value += '\\';
            } else if (e == '"') {
              value += '"';
            } else if (e == 'n') {
              value += '\n';
            } else {
              fail(line_no, "bad escape in label value", line);
            }
          } else {
            value += c;
          }
        }
        if (!s.labels.emplace(lname, value).second) fail(line_no, "repeated label", line);
        if (pos < line.size() && line[pos] == ',') ++pos;
      }
      if (pos >= line.size()) fail(line_no, "unterminated label set", line);
      ++pos;  // '}'
    }
    if (pos >= line.size() || line[pos] != ' ') fail(line_no, "no space before the value", line);
    const std::string value_text = line.substr(pos + 1);
    if (value_text.find(' ') != std::string::npos) fail(line_no, "unexpected timestamp", line);
    s.value = parse_value(value_text, line_no, line);

    const std::string family = family_of(s.name, out.families);
    auto it = out.families.find(family);
    if (it == out.families.end() || it->second.type.empty()) {
      fail(line_no, "sample before its TYPE line", line);
    }
    enter(family);
    std::string key = s.name;
    for (const auto& [k, v] : s.labels) key += "|" + k + "=" + v;
    if (!series.insert(key).second) fail(line_no, "duplicate series", line);
    it->second.samples.push_back(s);
    out.samples.push_back(s);
  }

  // Type-specific rules.
  for (const auto& [name, f] : out.families) {
    if (f.type == "counter") {
      if (name.size() < 6 || name.compare(name.size() - 6, 6, "_total") != 0) {
        throw std::runtime_error("counter " + name + " does not end in _total");
      }
      for (const auto& s : f.samples) {
        if (!(s.value >= 0)) throw std::runtime_error("negative counter " + name);
      }
    }
    if (f.type == "histogram") {
      // Group by the labels other than le.
      std::map<std::string, std::vector<std::pair<double, double>>> buckets;
      std::map<std::string, double> counts;
      std::map<std::string, bool> sums;
      for (const auto& s : f.samples) {
        auto labels = s.labels;
        labels.erase("le");
        std::string key;
        for (const auto& [k, v] : labels) key += k + "=" + v + "|";
        if (s.name == name + "_bucket") {
          auto le = s.labels.find("le");
          if (le == s.labels.end()) throw std::runtime_error(name + ": bucket without le");
          buckets[key].emplace_back(parse_value(le->second, 0, le->second), s.value);
        } else if (s.name == name + "_count") {
          counts[key] = s.value;
        } else if (s.name == name + "_sum") {
          sums[key] = true;
        } else {
          throw std::runtime_error(name + ": unexpected sample " + s.name);
        }
      }
      for (const auto& [key, list] : buckets) {
        for (std::size_t i = 1; i < list.size(); ++i) {
          if (!(list[i].first > list[i - 1].first)) {
            throw std::runtime_error(name + ": le not increasing");
          }
          if (list[i].second < list[i - 1].second) {
            throw std::runtime_error(name + ": bucket counts not cumulative");
          }
        }
        if (list.empty() || !std::isinf(list.back().first)) {
          throw std::runtime_error(name + ": no +Inf bucket");
        }
        if (!counts.count(key) || counts[key] != list.back().second) {
          throw std::runtime_error(name + ": _count differs from the +Inf bucket");
        }
        if (!sums.count(key)) throw std::runtime_error(name + ": no _sum");
      }
    }
  }
  return out;
}

const Sample* find(const Parsed& p, const std::string& name,
                   const std::map<std::string, std::string>& labels) {
  for (const auto& s : p.samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) match = false;
    }
    if (match) return &s;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("the checker itself rejects broken exposition text", "[stats][prometheus]") {
  const auto bad = [](const std::string& text) {
    CHECK_THROWS_AS(parse_exposition(text), std::runtime_error);
  };
  bad("# TYPE x_total counter\nx_total 1");                               // no final newline
  bad("x_total 1\n");                                                     // sample before TYPE
  bad("# TYPE x counter\nx 1\n");                                         // counter without _total
  bad("# TYPE 1x gauge\n1x 1\n");                                         // bad metric name
  bad("# TYPE x gauge\nx{a=\"\\t\"} 1\n");                                // bad escape
  bad("# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n");                    // duplicate series
  bad("# TYPE x gauge\n# TYPE y gauge\ny 1\nx 1\n");                      // x after y started
  bad("# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\n# HELP x again\n");      // x not contiguous
  bad("# TYPE x gauge\nx abc\n");                                         // bad value
  bad("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n"  // not cumulative
      "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n");
  bad("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n");     // no +Inf
  bad("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n");  // count mismatch
  CHECK_NOTHROW(parse_exposition(
      "# HELP h a \\\\ b\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
      "h_sum 1.5\nh_count 2\n"));
}

TEST_CASE("Prometheus export follows the exposition format", "[stats][prometheus]") {
  auto clock = std::make_shared<ttlcache::FakeClock>();
  ttlcache::MemoryOptions<std::string, std::string> memory;
  memory.clock = clock;
  memory.max_entries = 2;
  memory.shards = 1;
  memory.weigher = [](const std::string& k, const std::string& v) { return k.size() + v.size(); };
  ttlcache::CacheOptions options;
  // Every character the format needs escaped, in the cache name and a content type.
  options.name = "we\\ird \"name\"\nline2";
  options.ttl_policy =
      std::make_shared<ttlcache::DynamicTTL>(ttlcache::DynamicTtlConfig::defaults(), clock);
  ttlcache::Cache<std::string, std::string> cache(memory, options);

  cache.set("a", "1", 1min);
  cache.set("b", "1", 1min);
  cache.set("c", "1", 1min);  // evicts a (and the load of d below evicts b)
  (void)cache.get("c");
  (void)cache.get("zz");
  (void)cache.get_or_load(
      "d",
      [&] {
        clock->advance(7ms);
        return std::string("v");
      },
      "file\"list\\x\n");
  (void)cache.erase("d");
  auto* rec = cache.stats_recorder();
  rec->record_breaker_state("redis", ttlcache::BreakerState::open);
  rec->record_tier_hit("memory");

  ttlcache::CacheOptions second;
  second.name = "second";
  ttlcache::Cache<std::string, std::string> other(
      ttlcache::MemoryOptions<std::string, std::string>{}, second);
  (void)other.get("x");
  ttlcache::CacheOptions off;
  off.name = "off";
  off.stats.enabled = false;
  ttlcache::Cache<std::string, std::string> disabled(
      ttlcache::MemoryOptions<std::string, std::string>{}, off);

  const std::string text =
      ttlcache::to_prometheus({cache.stats(), other.stats(), disabled.stats()});
  INFO(text);
  Parsed p;
  REQUIRE_NOTHROW(p = parse_exposition(text));

  const std::set<std::string> allowed_labels{"cache", "content_type", "tier", "cause", "le"};
  for (const auto& s : p.samples) {
    CHECK(s.name.rfind("ttlcache_", 0) == 0);
    for (const auto& [k, v] : s.labels) CHECK(allowed_labels.count(k) == 1);
    CHECK(s.labels.count("cache") == 1);
  }
  for (const auto& [name, f] : p.families) CHECK(f.has_help);

  // Values survive escaping: the parser unescapes to the original strings.
  const std::string weird = options.name;
  const Sample* hits = find(p, "ttlcache_hits_total", {{"cache", weird}});
  REQUIRE(hits);
  CHECK(hits->value == 1);
  CHECK(find(p, "ttlcache_misses_total", {{"cache", "second"}})->value == 1);
  CHECK(find(p, "ttlcache_removals_total", {{"cache", weird}, {"cause", "evicted"}})->value == 2);
  CHECK(find(p, "ttlcache_invalidations_total", {{"cache", weird}, {"cause", "key"}})->value == 1);
  CHECK(find(p, "ttlcache_content_type_loads_total",
             {{"cache", weird}, {"content_type", "file\"list\\x\n"}})
            ->value == 1);
  CHECK(find(p, "ttlcache_circuit_breaker_state", {{"cache", weird}, {"tier", "redis"}})->value ==
        1);
  CHECK(find(p, "ttlcache_tier_hits_total", {{"cache", weird}, {"tier", "memory"}})->value == 1);
  CHECK(find(p, "ttlcache_entries", {{"cache", weird}})->value == 1);
  CHECK(find(p, "ttlcache_weight_bytes", {{"cache", weird}})->value == 2);
  CHECK(find(p, "ttlcache_load_duration_seconds_count", {{"cache", weird}})->value == 1);
  CHECK(find(p, "ttlcache_load_duration_seconds_sum", {{"cache", weird}})->value == Approx(0.007));
  // 7 ms falls in the bucket (4.19 ms, 8.39 ms]: 0 below it, 1 from it on.
  CHECK(find(p, "ttlcache_load_duration_seconds_bucket", {{"cache", weird}, {"le", "0.004194304"}})
            ->value == 0);
  CHECK(find(p, "ttlcache_load_duration_seconds_bucket", {{"cache", weird}, {"le", "0.008388608"}})
            ->value == 1);
  CHECK(
      find(p, "ttlcache_load_duration_seconds_bucket", {{"cache", weird}, {"le", "+Inf"}})->value ==
      1);
  // A cache with statistics off still exports the backend's figures, and no recorder counters.
  CHECK(find(p, "ttlcache_entries", {{"cache", "off"}}));
  CHECK_FALSE(find(p, "ttlcache_hits_total", {{"cache", "off"}}));
  CHECK(p.families.at("ttlcache_load_duration_seconds").type == "histogram");
  CHECK(p.families.at("ttlcache_hit_ratio").type == "gauge");

  // Raw text: escapes as the format spells them.
  CHECK(text.find("cache=\"we\\\\ird \\\"name\\\"\\nline2\"") != std::string::npos);
}

TEST_CASE("Prometheus export refuses two caches with the same name", "[stats][prometheus]") {
  ttlcache::CacheStats a;
  a.cache = "x";
  CHECK_THROWS_AS(ttlcache::to_prometheus({a, a}), ttlcache::argument_error);
  CHECK(ttlcache::detail::prometheus_escape_label("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
}

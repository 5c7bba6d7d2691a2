// Tests for DynamicTTL: rules, windows, clamping, jitter, explain, JSON, bad input, reload.
// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/calendar.hpp"
#include "ttlcache/dynamic_ttl.hpp"
#include "ttlcache/errors.hpp"

using namespace std::chrono_literals;
using ttlcache::ContentTypeTtl;
using ttlcache::Context;
using ttlcache::DynamicTTL;
using ttlcache::DynamicTtlConfig;
using ttlcache::FakeClock;
using ttlcache::RuleOp;
using ttlcache::TtlExplanation;
using ttlcache::TtlRule;
using ttlcache::TtlWindow;

namespace {

using ttlcache_test::at;

// The shipped policy read in UTC and without jitter, so every expected value is exact.
DynamicTtlConfig exact_defaults() {
  DynamicTtlConfig config = DynamicTtlConfig::defaults();
  config.utc_offset = 0min;
  config.jitter_percent = 0.0;
  return config;
}

struct Fixture {
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>(at(0, 20));  // evening x1.0
  std::optional<DynamicTTL> policy;

  explicit Fixture(DynamicTtlConfig config = exact_defaults()) {
    policy.emplace(std::move(config), clock);
  }
  void set_time(int day, int hour, int minute = 0) { clock->set_wall(at(day, hour, minute)); }
  std::int64_t ms(std::string_view type, const Context& context = {}) const {
    return policy->ttl_for(type, context).count();
  }
};

// Runs `load` and checks it throws config_error with exactly this path and a reason
// containing `reason`.
template <class F>
void expect_config_error(F&& load, const std::string& path, const std::string& reason) {
  try {
    load();
    FAIL("no config_error; expected one at " << path << ": " << reason);
  } catch (const ttlcache::config_error& e) {
    INFO("message: " << e.what());
    CHECK(e.path() == path);
    CHECK(std::string(e.what()).find(reason) != std::string::npos);
    CHECK(std::string(e.what()).find(path) != std::string::npos);
  }
}

std::string source_root() {
  const std::string file = __FILE__;
  return file.substr(0, file.rfind("tests/unit/"));
}

/// Sets the process's TZ for one test and puts the previous one back, even when it fails.
class ScopedTz {
 public:
  explicit ScopedTz(const char* zone) {
    if (const char* old = std::getenv("TZ")) saved_ = old;
    ::setenv("TZ", zone, 1);
    ::tzset();
  }
  ~ScopedTz() {
    if (saved_) {
      ::setenv("TZ", saved_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  ScopedTz(const ScopedTz&) = delete;
  ScopedTz& operator=(const ScopedTz&) = delete;

 private:
  std::optional<std::string> saved_;
};

}  // namespace

TEST_CASE("shipped base TTLs per content type, default for unknown types", "[dynamic_ttl]") {
  Fixture f;
  CHECK(f.ms("user_stats") == 300'000);
  CHECK(f.ms("file_content") == 3'600'000);
  CHECK(f.ms("file_list") == 60'000);
  CHECK(f.ms("markdown_render") == 1'800'000);
  CHECK(f.ms("search_results") == 180'000);
  CHECK(f.ms("public_stats") == 600'000);
  CHECK(f.ms("bookmarks") == 120'000);
  CHECK(f.ms("tags") == 300'000);
  CHECK(f.ms("settings") == 60'000);
  CHECK(f.ms("no_such_type") == 300'000);
  CHECK(f.ms("") == 300'000);
  CHECK(f.ms("file_lis") == 300'000);  // no prefix matching
}

TEST_CASE("default rule: is_favorite multiplies by 1.5", "[dynamic_ttl]") {
  Fixture f;
  CHECK(f.ms("file_content", {{"is_favorite", true}}) == 5'400'000);
  CHECK(f.ms("file_content", {{"is_favorite", false}}) == 3'600'000);
  CHECK(f.ms("file_content", {{"is_favorite", "true"}}) == 3'600'000);  // a string is not a bool
}

TEST_CASE("default rule: modified less than an hour ago halves the TTL", "[dynamic_ttl]") {
  Fixture f;
  CHECK(f.ms("search_results", {{"last_modified_hours_ago", 0.5}}) == 90'000);
  CHECK(f.ms("search_results", {{"last_modified_hours_ago", 0}}) == 90'000);
  CHECK(f.ms("search_results", {{"last_modified_hours_ago", 1}}) == 180'000);  // not < 1
  CHECK(f.ms("search_results", {{"last_modified_hours_ago", 5}}) == 180'000);
  CHECK(f.ms("search_results", {{"last_modified_hours_ago", "0.5"}}) == 180'000);
}

TEST_CASE("default rule: high access frequency doubles the TTL", "[dynamic_ttl]") {
  Fixture f;
  CHECK(f.ms("user_stats", {{"access_frequency", "high"}}) == 600'000);
  CHECK(f.ms("user_stats", {{"access_frequency", "low"}}) == 300'000);
  CHECK(f.ms("user_stats", {{"access_frequency", "HIGH"}}) == 300'000);  // exact match
}

TEST_CASE("default rule: premium users get 0.7", "[dynamic_ttl]") {
  Fixture f;
  CHECK(f.ms("user_stats", {{"user_tier", "premium"}}) == 210'000);
  CHECK(f.ms("user_stats", {{"user_tier", "free"}}) == 300'000);
  CHECK(f.ms("user_stats", {{"unrelated", "premium"}}) == 300'000);
}

TEST_CASE("default windows: working hours 0.7, evening 1.0, night 1.5", "[dynamic_ttl]") {
  Fixture f;
  const auto tags_at = [&f](int hour, int minute) {
    f.set_time(2, hour, minute);
    return f.ms("tags");
  };
  CHECK(tags_at(8, 59) == 450'000);  // night
  CHECK(tags_at(9, 0) == 210'000);   // working hours start inclusive
  CHECK(tags_at(12, 30) == 210'000);
  CHECK(tags_at(17, 59) == 210'000);
  CHECK(tags_at(18, 0) == 300'000);  // evening; working hours end exclusive
  CHECK(tags_at(22, 59) == 300'000);
  CHECK(tags_at(23, 0) == 450'000);  // night, wrapping midnight
  CHECK(tags_at(0, 0) == 450'000);
  CHECK(tags_at(3, 0) == 450'000);
}

TEST_CASE("rules and window combine multiplicatively", "[dynamic_ttl]") {
  Fixture f;
  f.set_time(0, 10);  // working hours
  const Context all{{"is_favorite", true},
                    {"last_modified_hours_ago", 0.2},
                    {"access_frequency", "high"},
                    {"user_tier", "premium"}};
  // 300 s x1.5 x0.5 x2 x0.7 x0.7 = 220.5 s
  CHECK(f.ms("user_stats", all) == 220'500);
  f.set_time(0, 2);  // night: x1.5 instead of x0.7
  CHECK(f.ms("user_stats", all) == 472'500);
  // The order of context items does not matter; rules apply in policy order.
  const Context reversed{{"user_tier", "premium"},
                         {"access_frequency", "high"},
                         {"last_modified_hours_ago", 0.2},
                         {"is_favorite", true}};
  CHECK(f.ms("user_stats", reversed) == 472'500);
}

TEST_CASE("the result is clamped at both ends", "[dynamic_ttl]") {
  Fixture f;
  f.set_time(0, 10);
  // 60 s x0.5 x0.7 x0.7 = 14.7 s -> min 30 s
  const Context low{{"last_modified_hours_ago", 0.1}, {"user_tier", "premium"}};
  CHECK(f.ms("file_list", low) == 30'000);
  f.set_time(0, 3);
  // 3600 s x1.5 x2 x1.5 = 16200 s -> max 7200 s
  const Context high{{"is_favorite", true}, {"access_frequency", "high"}};
  CHECK(f.ms("file_content", high) == 7'200'000);
  // Just inside the bounds nothing moves.
  auto config = exact_defaults();
  config.min_ttl = 60s;
  config.max_ttl = 3600s;
  Fixture g(config);
  CHECK(g.ms("file_list") == 60'000);
  CHECK(g.ms("file_content") == 3'600'000);
  CHECK(g.ms("file_content", {{"is_favorite", true}}) == 3'600'000);
  CHECK(g.ms("file_list", {{"user_tier", "premium"}}) == 60'000);
}

TEST_CASE("windows wrap midnight", "[dynamic_ttl]") {
  auto config = exact_defaults();
  config.windows = {TtlWindow::between("22:00", "02:00", 2.0, "late")};
  Fixture f(config);
  const auto at_time = [&f](int day, int hour, int minute) {
    f.set_time(day, hour, minute);
    return f.ms("tags");
  };
  CHECK(at_time(0, 21, 59) == 300'000);
  CHECK(at_time(0, 22, 0) == 600'000);
  CHECK(at_time(0, 23, 59) == 600'000);
  CHECK(at_time(1, 0, 0) == 600'000);
  CHECK(at_time(1, 1, 59) == 600'000);
  CHECK(at_time(1, 2, 0) == 300'000);
  // "24:00" / "00:00" as the end is midnight, not a wrap.
  config.windows = {TtlWindow::between("18:00", "24:00", 2.0),
                    TtlWindow::between("00:00", "06:00", 3.0)};
  Fixture g(config);
  g.set_time(0, 23, 59);
  CHECK(g.ms("tags") == 600'000);
  g.set_time(1, 0, 0);
  CHECK(g.ms("tags") == 900'000);
  CHECK(TtlWindow::between("18:00", "00:00", 1.0).to_minute == 1440);
}

TEST_CASE("day-of-week windows, including a wrap into the next day and week", "[dynamic_ttl]") {
  namespace days = ttlcache::days;
  auto config = exact_defaults();
  config.windows = {
      TtlWindow::between("09:00", "18:00", 0.5, "office", days::weekdays),
      TtlWindow::between("22:00", "02:00", 3.0, "friday_night", days::friday),
      TtlWindow::between("02:00", "24:00", 2.0, "saturday", days::saturday),
      TtlWindow::between("00:00", "24:00", 2.0, "sunday", days::sunday),
  };
  Fixture f(config);
  const auto at_time = [&f](int day, int hour) {
    f.set_time(day, hour);
    return f.ms("tags");
  };
  CHECK(at_time(0, 10) == 150'000);  // Monday office
  CHECK(at_time(0, 20) == 300'000);  // Monday evening: no window
  CHECK(at_time(4, 23) == 900'000);  // Friday 23:00
  CHECK(at_time(5, 1) == 900'000);   // Saturday 01:00 still belongs to Friday's window
  CHECK(at_time(5, 2) == 600'000);   // Saturday 02:00: saturday
  CHECK(at_time(3, 1) == 300'000);   // Thursday 01:00: Friday's window has not started
  CHECK(at_time(6, 12) == 600'000);  // Sunday noon
  // Monday 00:30 after a Sunday start wraps into the next week:
  config.windows = {TtlWindow::between("23:00", "01:00", 4.0, "sunday_late", days::sunday)};
  Fixture g(config);
  g.set_time(7, 0, 30);  // Monday 2024-01-08 00:30
  CHECK(g.ms("tags") == 1'200'000);
  g.set_time(0, 0, 30);  // Monday 2024-01-01 00:30 (the Sunday before is 2023-12-31)
  CHECK(g.ms("tags") == 1'200'000);
  g.set_time(1, 0, 30);  // Tuesday 00:30
  CHECK(g.ms("tags") == 300'000);
}

TEST_CASE("a fixed UTC offset moves the windows", "[dynamic_ttl]") {
  auto config = exact_defaults();
  config.utc_offset = 120min;
  Fixture f(config);
  f.set_time(0, 8);  // 10:00 at UTC+2: working hours
  CHECK(f.ms("tags") == 210'000);
  config.utc_offset = -300min;
  Fixture g(config);
  g.set_time(0, 3);  // 22:00 on Sunday at UTC-5: evening
  CHECK(g.ms("tags") == 300'000);
  const TtlExplanation e = g.policy->explain("tags", {});
  CHECK(e.weekday == 6);
  CHECK(e.local_minute == 22 * 60);
  // Offsets that are not whole hours.
  config.utc_offset = 330min;  // UTC+05:30
  Fixture h(config);
  h.set_time(0, 3, 29);  // 08:59 local
  CHECK(h.ms("tags") == 450'000);
  h.set_time(0, 3, 30);  // 09:00 local
  CHECK(h.ms("tags") == 210'000);
}

TEST_CASE("process local time follows TZ", "[dynamic_ttl]") {
  const ScopedTz zone("TTL-2");  // POSIX: a zone named TTL at UTC+2
  auto config = exact_defaults();
  config.utc_offset.reset();
  Fixture f(config);
  f.set_time(0, 8);  // 10:00 local
  CHECK(f.ms("tags") == 210'000);
  f.set_time(0, 21, 30);  // 23:30 local: night
  CHECK(f.ms("tags") == 450'000);
}

TEST_CASE("process local time follows daylight saving changes", "[dynamic_ttl]") {
  // Central Europe as a POSIX rule (no tzdata needed): UTC+1, UTC+2 from the last Sunday of
  // March to the last Sunday of October.
  const ScopedTz zone("CET-1CEST,M3.5.0,M10.5.0/3");
  auto config = exact_defaults();
  config.utc_offset.reset();
  Fixture f(config);
  f.set_time(89, 7, 30);  // Saturday 2024-03-30 07:30 UTC = 08:30 CET: night
  CHECK(f.ms("tags") == 450'000);
  f.set_time(90, 7, 30);  // Sunday 2024-03-31 07:30 UTC = 09:30 CEST: working hours
  CHECK(f.ms("tags") == 210'000);
  CHECK(f.policy->explain("tags", {}).local_minute == 9 * 60 + 30);
  f.set_time(301, 7, 30);  // Monday 2024-10-28 07:30 UTC = 08:30 CET again: night
  CHECK(f.ms("tags") == 450'000);
}

TEST_CASE("every rule operator", "[dynamic_ttl]") {
  const auto policy_with = [](TtlRule rule) {
    auto config = exact_defaults();
    config.windows.clear();
    config.rules = {std::move(rule)};
    return std::make_unique<DynamicTTL>(config);
  };
  const auto ms = [](const std::unique_ptr<DynamicTTL>& p, const Context& c) {
    return p->ttl_for("tags", c).count();
  };
  auto eq = policy_with(TtlRule::when("n", RuleOp::equal, 3, 2.0));
  CHECK(ms(eq, {{"n", 3}}) == 600'000);
  CHECK(ms(eq, {{"n", 3.5}}) == 300'000);
  CHECK(ms(eq, {{"n", "3"}}) == 300'000);
  CHECK(ms(eq, {}) == 300'000);
  auto ne = policy_with(TtlRule::when("tier", RuleOp::not_equal, "free", 2.0));
  CHECK(ms(ne, {{"tier", "gold"}}) == 600'000);
  CHECK(ms(ne, {{"tier", true}}) == 600'000);  // another type is not equal
  CHECK(ms(ne, {{"tier", "free"}}) == 300'000);
  CHECK(ms(ne, {}) == 300'000);  // absent: no rule applies
  auto lt = policy_with(TtlRule::when("n", RuleOp::less, 10, 2.0));
  CHECK(ms(lt, {{"n", 9.99}}) == 600'000);
  CHECK(ms(lt, {{"n", 10}}) == 300'000);
  CHECK(ms(lt, {{"n", "1"}}) == 300'000);
  auto le = policy_with(TtlRule::when("n", RuleOp::less_equal, 10, 2.0));
  CHECK(ms(le, {{"n", 10}}) == 600'000);
  CHECK(ms(le, {{"n", 10.01}}) == 300'000);
  auto gt = policy_with(TtlRule::when("n", RuleOp::greater, -1, 2.0));
  CHECK(ms(gt, {{"n", 0}}) == 600'000);
  CHECK(ms(gt, {{"n", -1}}) == 300'000);
  auto ge = policy_with(TtlRule::when("n", RuleOp::greater_equal, -1, 2.0));
  CHECK(ms(ge, {{"n", -1}}) == 600'000);
  CHECK(ms(ge, {{"n", -1.5}}) == 300'000);
  CHECK(ms(ge, {{"n", true}}) == 300'000);
  auto in_strings = policy_with(TtlRule::when_in("tier", {"gold", "premium"}, 2.0));
  CHECK(ms(in_strings, {{"tier", "gold"}}) == 600'000);
  CHECK(ms(in_strings, {{"tier", "premium"}}) == 600'000);
  CHECK(ms(in_strings, {{"tier", "free"}}) == 300'000);
  auto in_numbers = policy_with(TtlRule::when_in("n", {1.0, 2.0}, 2.0));
  CHECK(ms(in_numbers, {{"n", 2}}) == 600'000);
  CHECK(ms(in_numbers, {{"n", 3}}) == 300'000);
  auto present = policy_with(TtlRule::when_present("trace", 2.0));
  CHECK(ms(present, {{"trace", false}}) == 600'000);
  CHECK(ms(present, {{"other", true}}) == 300'000);
}

TEST_CASE("jitter stays within +-N % and within the bounds", "[dynamic_ttl]") {
  auto config = exact_defaults();
  config.jitter_percent = 10.0;
  config.seed = 7;
  Fixture f(config);
  std::int64_t lo = 1'000'000;
  std::int64_t hi = 0;
  std::set<std::int64_t> distinct;
  for (int i = 0; i < 10'000; ++i) {
    const auto v = f.ms("tags");  // 300 s
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    distinct.insert(v);
  }
  CHECK(lo >= 270'000);
  CHECK(hi <= 330'000);
  CHECK(lo < 272'000);  // the whole range is used
  CHECK(hi > 328'000);
  CHECK(distinct.size() > 5'000);
  // At a bound, jitter is clamped back: never below min, never above max.
  f.set_time(0, 10);
  for (int i = 0; i < 2'000; ++i) {
    const auto low = f.ms("file_list", {{"user_tier", "premium"}});  // 29.4 s -> 30 s
    CHECK(low >= 30'000);
    CHECK(low <= 33'000);
    f.set_time(0, 3);
    const auto high = f.ms("file_content", {{"access_frequency", "high"}});  // 10800 s -> 7200 s
    CHECK(high <= 7'200'000);
    CHECK(high >= 6'480'000);
    f.set_time(0, 10);
  }
}

TEST_CASE("seeded jitter is deterministic", "[dynamic_ttl]") {
  auto config = exact_defaults();
  config.jitter_percent = 25.0;
  config.seed = 42;
  Fixture a(config);
  Fixture b(config);
  std::vector<std::int64_t> first;
  for (int i = 0; i < 200; ++i) {
    first.push_back(a.ms("file_content"));
    CHECK(first.back() == b.ms("file_content"));
  }
  // A reload restarts the sequence.
  a.policy->reload(config);
  for (int i = 0; i < 200; ++i) CHECK(a.ms("file_content") == first[static_cast<std::size_t>(i)]);
  // Another seed gives another sequence.
  config.seed = 43;
  Fixture c(config);
  int same = 0;
  for (int i = 0; i < 200; ++i) same += c.ms("file_content") == first[static_cast<std::size_t>(i)];
  CHECK(same < 10);
  // Without a seed each load draws its own.
  config.seed.reset();
  Fixture d(config);
  Fixture e(config);
  int equal = 0;
  for (int i = 0; i < 200; ++i) equal += d.ms("file_content") == e.ms("file_content");
  CHECK(equal < 10);
}

TEST_CASE("a seeded sequence does not depend on the thread nor on other policies",
          "[dynamic_ttl]") {
  auto config = exact_defaults();
  config.jitter_percent = 25.0;
  config.seed = 42;
  Fixture reference(config);
  std::vector<std::int64_t> expected;
  for (int i = 0; i < 200; ++i) expected.push_back(reference.ms("file_content"));

  // Other threads use another jittering policy first, so a fresh thread's stripe (had it
  // mattered) would differ from the main thread's.
  auto other = exact_defaults();
  other.jitter_percent = 10.0;
  Fixture unrelated(other);
  for (int t = 0; t < 3; ++t) {
    std::thread([&] { (void)unrelated.ms("tags"); }).join();
  }
  (void)unrelated.ms("tags");

  Fixture twin(config);
  std::vector<std::int64_t> seen;
  std::thread([&] {
    for (int i = 0; i < 200; ++i) seen.push_back(twin.ms("file_content"));
  }).join();
  CHECK(seen == expected);
}

TEST_CASE("per content type overrides", "[dynamic_ttl]") {
  auto config = exact_defaults();
  config.jitter_percent = 10.0;
  config.seed = 1;
  ContentTypeTtl big("big", 3600s);
  big.with_bounds(1min, 24h).without_jitter();
  ContentTypeTtl plain("plain", 100s);
  plain.with_rules({}).with_windows({}).without_jitter();
  ContentTypeTtl extra("extra", 100s);
  extra.with_extra_rule(TtlRule::when_present("boost", 3.0)).without_jitter();
  ContentTypeTtl own("own", 100s);
  own.with_rules({TtlRule::when("is_favorite", RuleOp::equal, true, 10.0)})
      .with_windows({TtlWindow::between("00:00", "24:00", 0.5)})
      .without_jitter();
  config.content_types.insert(config.content_types.end(), {big, plain, extra, own});
  Fixture f(config);
  f.set_time(0, 3);
  const Context ctx{{"is_favorite", true}, {"access_frequency", "high"}, {"boost", true}};
  // Own bounds: 3600 x1.5 x2 x1.5 = 16200 s, within [60 s, 24 h]; no jitter: exact.
  CHECK(f.ms("big", ctx) == 16'200'000);
  CHECK(f.ms("big", ctx) == 16'200'000);
  // No rules, no windows.
  CHECK(f.ms("plain", ctx) == 100'000);
  // Policy rules, then the extra rule; policy windows (night x1.5): 100 x1.5 x2 x3 x1.5.
  CHECK(f.ms("extra", ctx) == 1'350'000);
  // Own rules and windows: 100 x10 x0.5.
  CHECK(f.ms("own", ctx) == 500'000);
  // Types without overrides still jitter.
  std::set<std::int64_t> seen;
  for (int i = 0; i < 20; ++i) seen.insert(f.ms("tags"));
  CHECK(seen.size() > 1);
}

TEST_CASE("explain reports every step", "[dynamic_ttl]") {
  auto config = exact_defaults();
  config.jitter_percent = 10.0;
  config.seed = 5;
  Fixture f(config);
  f.set_time(0, 10, 15);
  const Context ctx{{"is_favorite", true}, {"user_tier", "premium"}};
  const TtlExplanation e = f.policy->explain("file_list", ctx);
  CHECK(e.content_type == "file_list");
  CHECK(e.known_content_type);
  CHECK(e.base == 60s);
  REQUIRE(e.rules.size() == 2);
  CHECK(e.rules[0].name == "favorite");
  CHECK(e.rules[0].factor == 1.5);
  CHECK(e.rules[1].name == "premium_user");
  CHECK(e.rules[1].factor == 0.7);
  CHECK(e.window == "working_hours");
  CHECK(e.window_factor == 0.7);
  CHECK(e.local_minute == 10 * 60 + 15);
  CHECK(e.weekday == 0);
  CHECK(e.before_clamp_ms == Approx(44'100.0));
  CHECK(e.clamp == TtlExplanation::Clamp::none);
  CHECK(e.min_ttl == 30s);
  CHECK(e.max_ttl == 7200s);
  CHECK(e.jitter_percent == Approx(10.0));
  CHECK(e.jitter_factor >= 0.9);
  CHECK(e.jitter_factor < 1.1);
  CHECK(e.ttl.count() == std::llround(std::max(30'000.0, 44'100.0 * e.jitter_factor)));
  // explain draws jitter exactly like ttl_for: a twin policy's first ttl_for agrees.
  Fixture twin(config);
  twin.set_time(0, 10, 15);
  CHECK(twin.ms("file_list", ctx) == e.ttl.count());
  const std::string text = e.to_string();
  INFO(text);
  CHECK(text.find("\"file_list\": base 60s") == 0);
  CHECK(text.find("x1.5 (favorite)") != std::string::npos);
  CHECK(text.find("x0.7 (premium_user)") != std::string::npos);
  CHECK(text.find("window working_hours at mon 10:15") != std::string::npos);
  CHECK(text.find("= 44.1s") != std::string::npos);
  CHECK(text.find("jitter x") != std::string::npos);
  CHECK(text.find("-> ttl ") != std::string::npos);

  // Unknown type, clamped to min, no window, no jitter.
  Fixture g;
  g.policy->reload([] {
    auto c = exact_defaults();
    c.windows = {TtlWindow::between("09:00", "10:00", 0.5)};
    return c;
  }());
  g.set_time(0, 20);
  const TtlExplanation u = g.policy->explain("mystery", {{"last_modified_hours_ago", 0.0}});
  CHECK_FALSE(u.known_content_type);
  CHECK(u.base == 300s);
  REQUIRE(u.rules.size() == 1);
  CHECK(u.rules[0].name == "recently_modified");
  CHECK(u.window.empty());
  CHECK(u.clamp == TtlExplanation::Clamp::none);
  CHECK(u.ttl == 150s);
  CHECK(u.to_string().find("default, unknown type") != std::string::npos);
  CHECK(u.to_string().find("window none") != std::string::npos);
  g.set_time(0, 9, 30);
  const TtlExplanation low = g.policy->explain("file_list", {{"user_tier", "premium"}});
  CHECK(low.clamp == TtlExplanation::Clamp::raised_to_min);
  CHECK(low.ttl == 30s);
  CHECK(low.to_string().find("raised to min 30s") != std::string::npos);
  const TtlExplanation high = g.policy->explain("file_content", {{"access_frequency", "high"}});
  CHECK(high.clamp == TtlExplanation::Clamp::none);  // 3600 x2 x0.5 = 3600
  g.set_time(0, 20);
  const TtlExplanation max =
      g.policy->explain("file_content", {{"access_frequency", "high"}, {"is_favorite", true}});
  CHECK(max.clamp == TtlExplanation::Clamp::lowered_to_max);
  CHECK(max.ttl == 7200s);
  // Unnamed rules and windows get readable names.
  auto config2 = exact_defaults();
  config2.rules = {TtlRule::when("tier", RuleOp::not_equal, "free", 2.0),
                   TtlRule::when_in("n", {1.0, 2.0}, 1.0)};
  config2.windows = {TtlWindow::between("19:00", "21:00", 1.0, "", ttlcache::days::monday)};
  Fixture h(config2);
  const TtlExplanation named = h.policy->explain("tags", {{"tier", "gold"}, {"n", 2}});
  REQUIRE(named.rules.size() == 2);
  CHECK(named.rules[0].name == "tier != \"free\"");
  CHECK(named.rules[1].name == "n in [1, 2]");
  CHECK(named.window == "19:00-21:00 mon");
}

TEST_CASE("the builder", "[dynamic_ttl]") {
  auto clock = std::make_shared<FakeClock>(at(0, 10));
  auto policy = DynamicTTL::builder()
                    .default_ttl(100s)
                    .bounds(10s, 1000s)
                    .jitter(0)
                    .utc_offset(0min)
                    .content_type("a", 50s)
                    .content_type("a", 60s)  // replaces
                    .content_type(ContentTypeTtl("b", 2000s).with_bounds(1s, 5000s))
                    .rule(TtlRule::when("hot", RuleOp::equal, true, 2.0))
                    .window("09:00", "12:00", 0.5, "morning")
                    .build(clock);
  CHECK(policy->ttl_for("a", {}).count() == 30'000);
  CHECK(policy->ttl_for("b", {{"hot", true}}).count() == 2'000'000);
  CHECK(policy->ttl_for("zzz", {}).count() == 50'000);
  CHECK(policy->config().content_types.size() == 2);
  // Starting from the shipped defaults.
  auto from_defaults =
      DynamicTTL::builder(DynamicTtlConfig::defaults()).utc_offset(0min).jitter(0).build(clock);
  CHECK(from_defaults->ttl_for("file_list", {}).count() == 42'000);
  // A default-constructed DynamicTTL is the shipped policy.
  DynamicTTL shipped;
  CHECK(shipped.config() == DynamicTtlConfig::defaults());
  const auto real = shipped.ttl_for("file_list", {});  // real clock, any hour, jitter
  CHECK(real >= 30s);
  CHECK(real <= 7200s);
  auto cleared = DynamicTTL::builder(DynamicTtlConfig::defaults())
                     .clear_rules()
                     .clear_windows()
                     .jitter(0)
                     .build(clock);
  CHECK(cleared->ttl_for("file_list", {{"is_favorite", true}}).count() == 60'000);
  CHECK(cleared->config().utc_offset == std::nullopt);
  // Invalid configs are rejected at build, with the path the JSON form would have.
  expect_config_error([] { DynamicTTL::builder().bounds(100s, 10s).build(); }, "$.min_ttl",
                      "greater than max_ttl");
  expect_config_error([] { DynamicTTL::builder().content_type("x", 0s).build(); },
                      "$.content_types.x.ttl", "positive");
  expect_config_error([] { DynamicTTL::builder().window("9:00", "10:00", 1.0); },
                      "$.windows[0].from", "malformed time");
  expect_config_error(
      [] { DynamicTTL::builder().rule(TtlRule::when("x", RuleOp::less, "a", 2.0)).build(); },
      "$.rules[0].value", "needs a number");
  expect_config_error([] { DynamicTTL::builder().rule(TtlRule::when_present("", 2.0)).build(); },
                      "$.rules[0].field", "must not be empty");
  expect_config_error([] { DynamicTTL::builder().content_type("", 1s).build(); },
                      "$.content_types[\"\"]", "must not be empty");
  expect_config_error([] { DynamicTTL::builder().jitter(100).build(); }, "$.jitter_percent",
                      "[0, 100)");
  expect_config_error([] { DynamicTTL::builder().utc_offset(19h).build(); }, "$.time_zone",
                      "outside");
  expect_config_error(
      [] {
        auto c = DynamicTtlConfig{};
        c.content_types = {ContentTypeTtl("d", 1s), ContentTypeTtl("d", 2s)};
        c.validate();
      },
      "$.content_types.d", "duplicate content type");
  expect_config_error([] { (void)TtlWindow::between("10:00", "24:01", 1.0); }, "$.to",
                      "malformed time");
  expect_config_error([] { (void)TtlWindow::between("24:00", "10:00", 1.0); }, "$.from",
                      "malformed time");
}

TEST_CASE("JSON round trip", "[dynamic_ttl][json]") {
  SECTION("the shipped defaults") {
    const DynamicTtlConfig d = DynamicTtlConfig::defaults();
    CHECK(DynamicTtlConfig::from_json(d.to_json()) == d);
    CHECK(DynamicTtlConfig::from_json(d.to_json(-1)) == d);
    CHECK(d.to_json(-1).find('\n') == std::string::npos);
  }
  SECTION("the example file is the shipped default policy") {
    const auto path = source_root() + "examples/dynamic_ttl_default.json";
    const DynamicTtlConfig loaded = DynamicTtlConfig::from_file(path);
    CHECK(loaded == DynamicTtlConfig::defaults());
    // and it is written exactly as to_json() writes it
    std::ifstream in(path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text == DynamicTtlConfig::defaults().to_json() + "\n");
  }
  SECTION("every feature") {
    DynamicTtlConfig c;
    c.default_ttl = 1500ms;
    c.min_ttl = 1ms;
    c.max_ttl = 86'400'000ms;
    c.jitter_percent = 12.5;
    c.seed = 18'446'744'073'709'551'615ULL;
    c.utc_offset = -330min;
    ContentTypeTtl t("odd name.with \"quotes\"", 2001ms);
    t.with_bounds(2ms, 3s).with_jitter(0.5);
    t.with_rules({TtlRule::when("a", RuleOp::greater_equal, -2.25, 0.125)});
    t.with_extra_rule(TtlRule::when_in(
        "s", std::vector<ttlcache::ContextValue>{true, 1.5, std::string("x")}, 3.0, "mixed"));
    t.with_windows({TtlWindow::between("23:30", "00:15", 9.0, "w", ttlcache::days::weekend)});
    c.content_types = {t, ContentTypeTtl("plain", 7s)};
    c.rules = {TtlRule::when("b", RuleOp::not_equal, false, 1.25),
               TtlRule::when("n", RuleOp::less, 3, 0.5), TtlRule::when_present("p", 1e-3)};
    c.windows = {TtlWindow::between("00:00", "24:00", 1.1, "all day", ttlcache::days::monday)};
    const std::string json = c.to_json();
    INFO(json);
    const DynamicTtlConfig back = DynamicTtlConfig::from_json(json);
    CHECK(back == c);
    CHECK(back.to_json() == json);
    auto policy = DynamicTTL::from_json(json);
    CHECK(policy->config() == c);
    CHECK(policy->to_json() == json);
    CHECK(json.find("\"time_zone\": \"UTC-05:30\"") != std::string::npos);
    CHECK(json.find("\"default_ttl\": 1.5") != std::string::npos);
    CHECK(json.find("\"plain\": 7") != std::string::npos);
    CHECK(c.to_json(-1).find(R"("days":["sat","sun"])") != std::string::npos);
  }
  SECTION("shorthand, optional keys and null seed") {
    const auto c = DynamicTtlConfig::from_json(
        R"({"content_types": {"a": 0.25, "b": {"ttl": 2}}, "seed": null, "time_zone": "UTC"})");
    REQUIRE(c.content_types.size() == 2);
    CHECK(c.content_types[0].ttl == 250ms);
    CHECK(c.content_types[1].ttl == 2s);
    CHECK_FALSE(c.seed.has_value());
    CHECK(c.utc_offset == 0min);
    CHECK(c.default_ttl == 300s);
    CHECK(c.min_ttl == 30s);
    CHECK(c.max_ttl == 7200s);
    CHECK(c.jitter_percent == 10.0);
    CHECK(c.rules.empty());
    CHECK(c.windows.empty());
    CHECK(DynamicTtlConfig::from_json("{}") == DynamicTtlConfig{});
  }
}

TEST_CASE("bad input is rejected with the JSON path and the reason", "[dynamic_ttl][json]") {
  struct Case {
    const char* json;
    const char* path;
    const char* reason;
  };
  const Case cases[] = {
      // invalid JSON
      {"{", "$", "invalid JSON"},
      {"", "$", "invalid JSON"},
      {R"({"default_ttl": 300,})", "$", "invalid JSON"},
      {R"({"min_ttl": 1e400})", "$", "invalid JSON"},  // number overflow (found by fuzzing)
      {"[]", "$", "expected an object, got array"},
      {"null", "$", "expected an object"},
      // unknown keys, everywhere
      {R"({"default_tll": 3})", "$.default_tll", "unknown key"},
      {R"({"rules": [{"field": "a", "op": "present", "factor": 2, "fator": 1}]})",
       "$.rules[0].fator", "unknown key"},
      {R"({"windows": [{"from": "01:00", "to": "02:00", "factor": 2, "day": ["mon"]}]})",
       "$.windows[0].day", "unknown key"},
      {R"({"content_types": {"a": {"ttl": 1, "tll": 2}}})", "$.content_types.a.tll", "unknown key"},
      // duplicate keys
      {R"({"content_types": {"tags": 1, "tags": 2}})", "$.content_types.tags", "duplicate key"},
      {R"({"rules": [{"field": "a", "field": "b"}]})", "$.rules[0].field", "duplicate key"},
      // negative or zero TTL
      {R"({"default_ttl": -5})", "$.default_ttl", "positive"},
      {R"({"default_ttl": 0})", "$.default_ttl", "positive"},
      {R"({"min_ttl": -1})", "$.min_ttl", "positive"},
      {R"({"max_ttl": 0.0})", "$.max_ttl", "positive"},
      {R"({"content_types": {"x": 0}})", "$.content_types.x", "positive"},
      {R"({"content_types": {"x": {"ttl": -60}}})", "$.content_types.x.ttl", "positive"},
      {R"({"content_types": {"x": {"ttl": 6, "min_ttl": 0}}})", "$.content_types.x.min_ttl",
       "positive"},
      {R"({"default_ttl": 0.0001})", "$.default_ttl", "at least 0.001 s"},
      {R"({"default_ttl": 1e10})", "$.default_ttl", "at most"},
      {R"({"default_ttl": "300"})", "$.default_ttl", "expected a number, got string"},
      {R"({"content_types": {"x": true}})", "$.content_types.x", "expected a number of seconds"},
      {R"({"content_types": {"x": {"min_ttl": 1}}})", "$.content_types.x.ttl", "missing"},
      // min > max
      {R"({"min_ttl": 100, "max_ttl": 50})", "$.min_ttl", "greater than max_ttl"},
      {R"({"content_types": {"x": {"ttl": 5, "min_ttl": 8000}}})", "$.content_types.x.min_ttl",
       "from $.max_ttl"},
      {R"({"content_types": {"x": {"ttl": 5, "max_ttl": 10}}})", "$.content_types.x.max_ttl",
       "from $.min_ttl"},
      // multiplier <= 0
      {R"({"rules": [{"field": "a", "op": "present", "factor": 0}]})", "$.rules[0].factor", "> 0"},
      {R"({"rules": [{"field": "a", "op": "present", "factor": -1.5}]})", "$.rules[0].factor",
       "> 0"},
      {R"({"windows": [{"from": "01:00", "to": "02:00", "factor": 0}]})", "$.windows[0].factor",
       "> 0"},
      {R"({"content_types": {"x": {"ttl": 1, "windows": [{"from": "01:00", "to": "02:00",
         "factor": -2}]}}})",
       "$.content_types.x.windows[0].factor", "> 0"},
      {R"({"rules": [{"field": "a", "op": "present", "factor": "2"}]})", "$.rules[0].factor",
       "expected a number"},
      // overlapping windows
      {R"({"windows": [{"from": "09:00", "to": "18:00", "factor": 1},
                       {"from": "17:00", "to": "19:00", "factor": 1}]})",
       "$.windows[1]", "overlaps $.windows[0]"},
      {R"({"windows": [{"from": "22:00", "to": "02:00", "factor": 1},
                       {"from": "01:00", "to": "03:00", "factor": 1}]})",
       "$.windows[1]", "at 01:00"},
      {R"({"windows": [{"from": "00:00", "to": "24:00", "days": ["sat", "sun"], "factor": 2},
                       {"from": "23:00", "to": "01:00", "days": ["fri"], "factor": 3}]})",
       "$.windows[1]", "on sat at 00:00"},
      {R"({"content_types": {"x": {"ttl": 1, "windows": [
         {"from": "10:00", "to": "11:00", "factor": 1}, {"from": "10:30", "to": "10:45",
         "factor": 1}]}}})",
       "$.content_types.x.windows[1]", "overlaps"},
      // malformed times
      {R"({"windows": [{"from": "9:00", "to": "18:00", "factor": 1}]})", "$.windows[0].from",
       "malformed time"},
      {R"({"windows": [{"from": "25:00", "to": "18:00", "factor": 1}]})", "$.windows[0].from",
       "malformed time"},
      {R"({"windows": [{"from": "10:00", "to": "12:60", "factor": 1}]})", "$.windows[0].to",
       "malformed time"},
      {R"({"windows": [{"from": "24:00", "to": "12:00", "factor": 1}]})", "$.windows[0].from",
       "malformed time"},
      {R"({"windows": [{"from": "10:00", "to": "24:30", "factor": 1}]})", "$.windows[0].to",
       "malformed time"},
      {R"({"windows": [{"from": "10h00", "to": "12:00", "factor": 1}]})", "$.windows[0].from",
       "malformed time"},
      {R"({"windows": [{"from": 10, "to": "12:00", "factor": 1}]})", "$.windows[0].from",
       "expected a string"},
      {R"({"windows": [{"from": "10:00", "to": "10:00", "factor": 1}]})", "$.windows[0]",
       "empty window"},
      {R"({"windows": [{"to": "10:00", "factor": 1}]})", "$.windows[0].from", "missing"},
      {R"({"windows": [{"from": "01:00", "to": "02:00", "days": [], "factor": 1}]})",
       "$.windows[0].days", "at least one day"},
      {R"({"windows": [{"from": "01:00", "to": "02:00", "days": ["mon", "funday"],
         "factor": 1}]})",
       "$.windows[0].days[1]", "unknown day"},
      {R"({"windows": [{"from": "01:00", "to": "02:00", "days": ["mon", "mon"], "factor": 1}]})",
       "$.windows[0].days[1]", "listed twice"},
      {R"({"time_zone": "CET"})", "$.time_zone", "malformed time zone"},
      {R"({"time_zone": "UTC+19:00"})", "$.time_zone", "malformed time zone"},
      {R"({"time_zone": "UTC+1"})", "$.time_zone", "malformed time zone"},
      // rules
      {R"({"rules": [{"field": "a", "op": "~=", "value": 1, "factor": 2}]})", "$.rules[0].op",
       "unknown operator"},
      {R"({"rules": [{"field": "a", "op": "<", "value": "x", "factor": 2}]})", "$.rules[0].value",
       "needs a number"},
      {R"({"rules": [{"field": "a", "op": "==", "factor": 2}]})", "$.rules[0].value", "missing"},
      {R"({"rules": [{"field": "a", "op": "==", "value": null, "factor": 2}]})", "$.rules[0].value",
       "expected a boolean, number or string"},
      {R"({"rules": [{"field": "a", "op": "in", "values": [], "factor": 2}]})", "$.rules[0].values",
       "at least one value"},
      {R"({"rules": [{"field": "a", "op": "in", "value": 1, "factor": 2}]})", "$.rules[0].value",
       "not used by operator in"},
      {R"({"rules": [{"field": "a", "op": "in", "values": [1, [2]], "factor": 2}]})",
       "$.rules[0].values[1]", "expected a boolean"},
      {R"({"rules": [{"field": "a", "op": "present", "value": 1, "factor": 2}]})",
       "$.rules[0].value", "not used"},
      {R"({"rules": [{"field": "", "op": "present", "factor": 2}]})", "$.rules[0].field",
       "must not be empty"},
      {R"({"rules": [{"op": "present", "factor": 2}]})", "$.rules[0].field", "missing"},
      {R"({"rules": {"field": "a"}})", "$.rules", "expected an array"},
      {R"({"rules": [5]})", "$.rules[0]", "expected an object"},
      // other scalars
      {R"({"jitter_percent": -1})", "$.jitter_percent", "[0, 100)"},
      {R"({"jitter_percent": 100})", "$.jitter_percent", "[0, 100)"},
      {R"({"seed": -1})", "$.seed", "integer"},
      {R"({"seed": 1.5})", "$.seed", "integer"},
      {R"({"version": 2})", "$.version", "unsupported version"},
      {R"({"content_types": {"": 5}})", "$.content_types[\"\"]", "must not be empty"},
      {R"({"content_types": {"a.b": {"ttl": 1, "jitter_percent": 200}}})",
       "$.content_types[\"a.b\"].jitter_percent", "[0, 100)"},
      {R"({"rules": [{"field": "a", "op": "in", "values": [[[[[[[1]]]]]]], "factor": 2}]})",
       "$.rules[0].values[0][0][0][0][0]", "nested deeper"},
  };
  for (const Case& c : cases) {
    INFO("config: " << c.json);
    expect_config_error([&c] { (void)DynamicTtlConfig::from_json(c.json); }, c.path, c.reason);
  }
}

TEST_CASE("a rejected reload leaves the previous policy in force", "[dynamic_ttl]") {
  Fixture f;
  const std::string before = f.policy->to_json();
  const auto ttl_before = f.ms("file_list", {{"is_favorite", true}});
  CHECK_THROWS_AS(f.policy->load_json("{not json"), ttlcache::config_error);
  CHECK_THROWS_AS(f.policy->load_json(R"({"min_ttl": 10, "max_ttl": 5})"), ttlcache::config_error);
  CHECK_THROWS_AS(f.policy->load_file("/nonexistent/dynamic_ttl.json"), ttlcache::config_error);
  auto bad = exact_defaults();
  bad.rules[0].factor = 0;
  CHECK_THROWS_AS(f.policy->reload(bad), ttlcache::config_error);
  CHECK(f.policy->to_json() == before);
  CHECK(f.ms("file_list", {{"is_favorite", true}}) == ttl_before);
  // A good reload takes effect.
  f.policy->load_json(
      R"({"time_zone": "UTC", "jitter_percent": 0, "content_types": {"file_list": 45}})");
  CHECK(f.ms("file_list", {{"is_favorite", true}}) == 45'000);
  CHECK(f.policy->config().rules.empty());
}

TEST_CASE("from_file reads a policy, and its errors name the file", "[dynamic_ttl][json]") {
  const std::string path =
      (std::filesystem::temp_directory_path() /
       ("ttlcache_dynamic_ttl_" + std::to_string(std::random_device()()) + ".json"))
          .string();
  {
    std::ofstream out(path);
    out << R"({"time_zone": "UTC", "jitter_percent": 0, "content_types": {"a": 12}})";
  }
  auto policy = DynamicTTL::from_file(path);
  CHECK(policy->ttl_for("a", {}).count() == 30'000);  // clamped to the default min
  {
    std::ofstream out(path);
    out << R"({"content_types": {"a": {"ttl": 12, "rulez": []}}})";
  }
  try {
    policy->load_file(path);
    FAIL("expected config_error");
  } catch (const ttlcache::config_error& e) {
    CHECK(e.path() == "$.content_types.a.rulez");
    CHECK(std::string(e.what()).find(path) != std::string::npos);
  }
  std::remove(path.c_str());
  expect_config_error([&] { (void)DynamicTTL::from_file(path); }, "", "cannot open");
}

// ---- a loader that stays cheap on hostile input ----

namespace {

// {"content_types": {"t0": 60, "t1": 60, ...}} with n types.
std::string many_types_json(std::size_t n) {
  std::string json = R"({"content_types": {)";
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) json += ", ";
    json += "\"t" + std::to_string(i) + "\": 60";
  }
  json += "}}";
  return json;
}

// A file under the temporary directory, removed at scope exit.
struct TempPath {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("ttlcache_dynamic_ttl_" + std::to_string(std::random_device()())))
                         .string();
  ~TempPath() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("a policy over the size cap is refused before parsing", "[dynamic_ttl][json][hostile]") {
  // The attack from issue 18: 10 MB, 600,000 content types (it took 242 s of CPU to reject).
  const std::string hostile = many_types_json(600'000);
  REQUIRE(hostile.size() > 8U << 20U);
  expect_config_error([&] { (void)DynamicTtlConfig::from_json(hostile); }, "$",
                      "over the limit of 8388608");
  TempPath file;
  {
    std::ofstream out(file.path, std::ios::binary);
    out << hostile;
  }
  expect_config_error([&] { (void)DynamicTtlConfig::from_file(file.path); }, "",
                      "over the limit of 8388608");
}

TEST_CASE("member limits are enforced while parsing, with the container's path",
          "[dynamic_ttl][json][hostile]") {
  // Under the byte cap but over the type limit: stopped at the 65537th name, not after the DOM.
  expect_config_error([] { (void)DynamicTtlConfig::from_json(many_types_json(70'000)); },
                      "$.content_types", "too many content types (more than 65536)");
  std::string rules = R"({"rules": [)";
  for (int i = 0; i < 300; ++i) {
    rules += std::string(i > 0 ? "," : "") + R"({"field": "x", "op": "present", "factor": 2})";
  }
  rules += "]}";
  expect_config_error([&] { (void)DynamicTtlConfig::from_json(rules); }, "$.rules",
                      "too many rules (more than 256)");
  std::string wide = R"({"content_types": {"a": {"ttl": 1)";
  for (int i = 0; i < 20; ++i) wide += ", \"k" + std::to_string(i) + "\": 1";
  wide += "}}}";
  expect_config_error([&] { (void)DynamicTtlConfig::from_json(wide); }, "$.content_types.a",
                      "too many members (more than 16)");
  // The limit itself still loads, in document order.
  const DynamicTtlConfig big = DynamicTtlConfig::from_json(many_types_json(65'536));
  REQUIRE(big.content_types.size() == 65'536);
  CHECK(big.content_types[0].name == "t0");
  CHECK(big.content_types[65'535].name == "t65535");
}

TEST_CASE("content types keep their document order through a load", "[dynamic_ttl][json]") {
  const auto c = DynamicTtlConfig::from_json(R"({"content_types": {"zeta": 1, "alpha": 2,
                                               "mid": {"ttl": 3, "max_ttl": 100}}})");
  REQUIRE(c.content_types.size() == 3);
  CHECK(c.content_types[0].name == "zeta");
  CHECK(c.content_types[1].name == "alpha");
  CHECK(c.content_types[2].name == "mid");
  CHECK(DynamicTtlConfig::from_json(c.to_json()) == c);
}

TEST_CASE("from_file: a directory is named as one, and messages carry one prefix",
          "[dynamic_ttl][json]") {
  TempPath dir;
  std::filesystem::create_directory(dir.path);
  expect_config_error([&] { (void)DynamicTtlConfig::from_file(dir.path); }, "",
                      "it is a directory");
  try {
    (void)DynamicTtlConfig::from_file(dir.path);
  } catch (const ttlcache::config_error& e) {
    CHECK(std::string(e.what()).find("invalid JSON") == std::string::npos);
  }
  const std::string file = dir.path + "/policy.json";
  {
    std::ofstream out(file);
    out << R"({"min_ttl": 9, "max_ttl": 1})";
  }
  try {
    (void)DynamicTtlConfig::from_file(file);
    FAIL("expected config_error");
  } catch (const ttlcache::config_error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(e.path() == "$.min_ttl");
    CHECK(what.find("ttlcache config") == 0);
    CHECK(what.find("ttlcache config", 1) == std::string::npos);  // the prefix appears once
    CHECK(what.find(file) != std::string::npos);
  }
}

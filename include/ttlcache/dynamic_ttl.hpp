// DynamicTTL: a TTL policy computed from content type, request context and local time of day.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ttlcache/clock.hpp"
#include "ttlcache/context.hpp"
#include "ttlcache/ttl_policy.hpp"

namespace ttlcache {

/// How a rule tests one context value. Every operator except `present` is false when the
/// field is absent from the context; ordering operators are false unless the value is a number.
enum class RuleOp : std::uint8_t {
  equal,          ///< "==": same type and same value
  not_equal,      ///< "!=": present, and not (same type and same value)
  less,           ///< "<"  (numbers only)
  less_equal,     ///< "<=" (numbers only)
  greater,        ///< ">"  (numbers only)
  greater_equal,  ///< ">=" (numbers only)
  in,             ///< "in": equal to one of a set of values
  present,        ///< "present": the field exists, whatever its value
};

/// Days of the week as a bit mask for time windows: bit 0 is Monday, bit 6 is Sunday.
namespace days {
inline constexpr std::uint8_t monday = 1U << 0U;
inline constexpr std::uint8_t tuesday = 1U << 1U;
inline constexpr std::uint8_t wednesday = 1U << 2U;
inline constexpr std::uint8_t thursday = 1U << 3U;
inline constexpr std::uint8_t friday = 1U << 4U;
inline constexpr std::uint8_t saturday = 1U << 5U;
inline constexpr std::uint8_t sunday = 1U << 6U;
inline constexpr std::uint8_t weekdays = 0x1F;
inline constexpr std::uint8_t weekend = 0x60;
inline constexpr std::uint8_t every_day = 0x7F;
}  // namespace days

namespace detail {
// Rule operands follow Context's conversions: integers become double, and a string literal
// must become a string, never a bool (which std::variant's converting constructor may pick).
inline ContextValue to_context_value(bool v) { return ContextValue(v); }
inline ContextValue to_context_value(const char* v) { return ContextValue(std::string(v)); }
inline ContextValue to_context_value(std::string v) { return ContextValue(std::move(v)); }
inline ContextValue to_context_value(std::string_view v) { return ContextValue(std::string(v)); }
template <class N, std::enable_if_t<std::is_arithmetic_v<N> && !std::is_same_v<N, bool>, int> = 0>
ContextValue to_context_value(N v) {
  return ContextValue(static_cast<double>(v));
}
}  // namespace detail

/// A context multiplier: when `field op operand` holds on the request context, the TTL is
/// multiplied by `factor`. Rules are applied in order; every matching rule applies.
struct TtlRule {
  std::string name;                  ///< shown by explain(); empty = derived ("tier == premium")
  std::string field;                 ///< context name to test; must not be empty
  RuleOp op = RuleOp::present;       ///< the test
  ContextValue value;                ///< operand of == != < <= > >= (numbers for the ordering)
  std::vector<ContextValue> values;  ///< the set for `in` (non-empty)
  double factor = 1.0;               ///< > 0 and finite

  /// `field op value`, e.g. when("user_tier", RuleOp::equal, "premium", 0.7).
  template <class V>
  static TtlRule when(std::string field, RuleOp op, V&& value, double factor,
                      std::string name = {}) {
    TtlRule rule;
    rule.name = std::move(name);
    rule.field = std::move(field);
    rule.op = op;
    rule.value = detail::to_context_value(std::forward<V>(value));
    rule.factor = factor;
    return rule;
  }
  /// `field in {values...}` for strings, e.g. when_in("tier", {"gold", "premium"}, 0.8).
  static TtlRule when_in(std::string field, std::initializer_list<std::string_view> values,
                         double factor, std::string name = {});
  /// `field in {values...}` for numbers.
  static TtlRule when_in(std::string field, std::initializer_list<double> values, double factor,
                         std::string name = {});
  /// `field in values` for any mix of value types.
  static TtlRule when_in(std::string field, std::vector<ContextValue> values, double factor,
                         std::string name = {});
  /// `field present`: applies whenever the context has the field.
  static TtlRule when_present(std::string field, double factor, std::string name = {});
};

/// A time-of-day multiplier over local time [from, to). A window with from > to wraps past
/// midnight and belongs to the day it starts on: 23:00-09:00 on Friday covers Friday 23:00 to
/// Saturday 09:00. Windows in one list must not overlap; times no window covers get factor 1.
struct TtlWindow {
  std::string name;                     ///< shown by explain(); empty = "HH:MM-HH:MM"
  int from_minute = 0;                  ///< minute of the day, 0..1439
  int to_minute = 1440;                 ///< minute of the day, 1..1440 (1440 = midnight)
  double factor = 1.0;                  ///< > 0 and finite
  std::uint8_t days = days::every_day;  ///< days the window starts on (see ttlcache::days)

  /// Parses "HH:MM" times; `to` may be "24:00" (or "00:00") for midnight.
  /// @throws config_error naming the time when either is malformed, with path "$.from" or
  /// "$.to" (relative to the window: it does not know which list it will join).
  static TtlWindow between(std::string_view from, std::string_view to, double factor,
                           std::string name = {}, std::uint8_t days = days::every_day);
};

/// Adaptive TTL: per content type, the policy estimates how often the underlying data changes
/// behind the cache's back and multiplies the table's TTL by
///   factor = clamp(target_ratio x estimated change interval / base TTL, 1/max_factor, max_factor)
/// before the [min, max] clamp: short when data changes unseen often, long when it never does.
///
/// Told and unseen changes weigh differently (TtlPolicy::observe reports both):
/// - an *unseen* change (TtlObservation::Kind::reload_changed: a refresh or reload found a
///   value different from the cached one) means the cache served data older than the source:
///   the TTL was too long. Only these feed the estimate, and only they can shorten the TTL.
/// - a *told* change (Kind::write, Kind::invalidation: a write or an invalidation through the
///   cache) already updated or removed the entries concerned, so it served nothing stale and
///   never shortens the TTL. It is counted (told_changes) and, like a read, lets the open
///   interval grow: a type kept fresh by tags or writes drifts toward max_factor, where the
///   TTL only bounds memory and the damage of a lost invalidation.
///
/// The estimate is an exponentially weighted average in log space (so 10 s -> 20 s weighs like
/// 100 s -> 200 s), starting at the base TTL. A reload that reports the replaced copy's age
/// (TtlObservation::age) is about one key: changed within age A pulls the estimate down toward
/// A/2 (never up), unchanged after A pulls it up toward 2A (never down), so it settles where
/// about half the reloads find a change: for data changing every P, a TTL between P/2 and P
/// (per key, however many keys the type has). Without an age, the sample is the time since the
/// type's previous unseen change (one stream of changes: reported every 10 s, the TTL converges
/// near 10 s). Two guards keep one burst from swinging it: samples closer than burst_window to
/// the last counted one are merged into it, and each moves the estimate by at most a factor of
/// 4^smoothing (x1.52 at the default 0.3). While no unseen change comes, the time since the
/// last one is a lower bound on the interval: any observation (reads, unchanged reloads, told
/// changes) lets the estimate grow with it, so a type that never changes unseen drifts to
/// max_factor (or the max_ttl clamp).
///
/// Estimates are kept per content type name across reload() while adaptation stays enabled (a
/// reload that changes a type's base TTL re-derives the factor from the same estimate); a
/// reload that disables adaptation discards them, and turning it off restores the table's TTLs
/// exactly. Unknown content types (the default_ttl fallback) are not adapted.
///
/// Key groups: an observation naming a group (TtlObservation::group: CacheBuilder::ttl_group,
/// EntryOptions::ttl_group) feeds the type's estimate and, in addition, one kept per (content
/// type, group) by the same model, which decides ttl_for_group(type, group, ...): the type's
/// rules, windows, clamps and max factor still apply, only the learned factor is the group's.
/// A group starts from the type's estimate at its first observation; a group never observed,
/// and one beyond max_groups (over all types; counted), uses the type's factor. Groups are kept
/// across reload() like types and discarded when adaptation is turned off.
struct AdaptiveTtl {
  bool enabled = false;                          ///< off by default
  double max_factor = 8.0;                       ///< >= 1; the factor stays in [1/max, max]
  double smoothing = 0.3;                        ///< weight of each new interval, (0, 1]
  std::chrono::milliseconds burst_window{1000};  ///< changes this close count as one, >= 0
  double target_ratio = 1.0;                     ///< TTL / change interval aimed at, > 0
  /// Key groups with an estimate of their own, over all types, 0..65536 (0: none, every group
  /// uses its type's factor). A lower bound on reload() applies to new groups only.
  std::size_t max_groups = 1000;
};

/// One content type: its base TTL and optional overrides of the policy-wide settings.
struct ContentTypeTtl {
  std::string name;                                  ///< non-empty, unique in the policy
  std::chrono::milliseconds ttl{0};                  ///< base TTL, > 0
  std::optional<std::chrono::milliseconds> min_ttl;  ///< overrides the policy's min_ttl
  std::optional<std::chrono::milliseconds> max_ttl;  ///< overrides the policy's max_ttl
  std::optional<double> jitter_percent;              ///< overrides; 0 disables jitter
  std::optional<std::vector<TtlRule>> rules;         ///< replaces the policy's rules ([] = none)
  std::vector<TtlRule> extra_rules;                  ///< applied after the (effective) rules
  std::optional<std::vector<TtlWindow>> windows;     ///< replaces the policy's windows
  std::optional<double> adaptive_max_factor;  ///< overrides AdaptiveTtl::max_factor; 1 = fixed

  ContentTypeTtl() = default;
  ContentTypeTtl(std::string type_name, std::chrono::milliseconds base)
      : name(std::move(type_name)), ttl(base) {}

  /// Fluent overrides: ContentTypeTtl("file_content", 1h).with_bounds(1min, 24h).without_jitter()
  ContentTypeTtl& with_bounds(std::chrono::milliseconds min, std::chrono::milliseconds max) {
    min_ttl = min;
    max_ttl = max;
    return *this;
  }
  ContentTypeTtl& with_jitter(double percent) {
    jitter_percent = percent;
    return *this;
  }
  ContentTypeTtl& without_jitter() { return with_jitter(0.0); }
  ContentTypeTtl& with_rules(std::vector<TtlRule> replacement) {
    rules = std::move(replacement);
    return *this;
  }
  ContentTypeTtl& with_extra_rule(TtlRule rule) {
    extra_rules.push_back(std::move(rule));
    return *this;
  }
  ContentTypeTtl& with_windows(std::vector<TtlWindow> replacement) {
    windows = std::move(replacement);
    return *this;
  }
  /// The adaptive factor of this type stays in [1/max, max]; 1 keeps the table's TTL.
  ContentTypeTtl& with_adaptive_max_factor(double max) {
    adaptive_max_factor = max;
    return *this;
  }
};

/// A complete DynamicTTL policy as data. A default-constructed config has the shipped scalar
/// defaults (300 s for unknown types, bounds [30 s, 7200 s], 10 % jitter, process local time)
/// and no content types, rules or windows; defaults() adds the shipped ones. The JSON form is
/// documented in docs/dynamic-ttl.md. Plain value type: not synchronised.
struct DynamicTtlConfig {
  std::chrono::milliseconds default_ttl{300'000};  ///< TTL of content types not listed
  std::chrono::milliseconds min_ttl{30'000};       ///< lower clamp, > 0
  std::chrono::milliseconds max_ttl{7'200'000};    ///< upper clamp, >= min_ttl
  double jitter_percent = 10.0;                    ///< +-N % after clamping, 0 <= N < 100
  std::optional<std::uint64_t> seed;               ///< jitter seed; none = random per load
  std::optional<std::chrono::minutes> utc_offset;  ///< fixed zone; none = process local time
  std::vector<ContentTypeTtl> content_types;
  std::vector<TtlRule> rules;
  std::vector<TtlWindow> windows;
  AdaptiveTtl adaptive;  ///< off unless adaptive.enabled

  /// The shipped policy (the same as examples/dynamic_ttl_default.json).
  static DynamicTtlConfig defaults();

  /// Parses and validates the JSON form.
  /// @throws config_error naming the JSON path and the reason (invalid JSON, unknown or
  ///         duplicate key, wrong type, value out of range, min > max, overlapping windows...).
  static DynamicTtlConfig from_json(std::string_view json);
  /// Reads a file and calls from_json.
  /// @throws config_error also when the file cannot be read (path "", reason names the file).
  static DynamicTtlConfig from_file(const std::string& path);

  /// The JSON form; from_json(to_json()) gives an equal config. indent < 0 gives one line.
  std::string to_json(int indent = 2) const;

  /// Checks every constraint from_json checks, with the JSON path the field would have.
  /// @throws config_error on the first violation.
  void validate() const;
};

bool operator==(const TtlRule& a, const TtlRule& b);
bool operator==(const TtlWindow& a, const TtlWindow& b);
bool operator==(const ContentTypeTtl& a, const ContentTypeTtl& b);
bool operator==(const AdaptiveTtl& a, const AdaptiveTtl& b);
bool operator==(const DynamicTtlConfig& a, const DynamicTtlConfig& b);
inline bool operator!=(const DynamicTtlConfig& a, const DynamicTtlConfig& b) { return !(a == b); }

/// Why a TTL came out as it did: every step of the computation, for logs and debugging.
struct TtlExplanation {
  struct AppliedRule {
    std::string name;
    double factor = 1.0;
  };
  enum class Clamp : std::uint8_t { none, raised_to_min, lowered_to_max };

  std::string content_type;
  bool known_content_type = false;  ///< false: the policy's default_ttl was the base
  std::chrono::milliseconds base{0};
  std::vector<AppliedRule> rules;  ///< the rules that matched, in order
  int local_minute = 0;            ///< minute of the day in the policy's time zone
  int weekday = 0;                 ///< 0 = Monday .. 6 = Sunday
  std::string window;              ///< the matching window's name; empty when none matched
  double window_factor = 1.0;
  std::string group;             ///< the key group asked about (explain(type, group, ctx))
  bool group_tracked = false;    ///< the group has its own estimate (else: the type's)
  bool adaptive = false;         ///< adaptation is on for this type
  double adaptive_factor = 1.0;  ///< the learned multiplier (the group's when group_tracked)
  std::chrono::milliseconds change_interval{0};  ///< the estimate behind it (0: none yet)
  std::uint64_t observed_changes = 0;            ///< unseen changes reported (bursts included)
  std::uint64_t counted_changes = 0;             ///< unseen changes that moved the estimate
  std::uint64_t told_changes = 0;  ///< writes and invalidations: never shorten the TTL
  std::uint64_t observed_reads = 0;
  double before_clamp_ms = 0.0;  ///< base x rules x window x adaptive
  std::chrono::milliseconds min_ttl{0};
  std::chrono::milliseconds max_ttl{0};
  Clamp clamp = Clamp::none;
  double jitter_percent = 0.0;       ///< the configured +-N % (0 = none)
  double jitter_factor = 1.0;        ///< the factor drawn, in [1 - N/100, 1 + N/100)
  bool jitter_clamped = false;       ///< the jittered value was put back into [min, max]
  std::chrono::milliseconds ttl{0};  ///< the result, as ttl_for would return it

  /// One line, e.g. "file_list": base 60s x1.5 (favorite) x0.7 (window working_hours at mon
  /// 10:00) = 63s, jitter x1.0238 (+-10%) -> ttl 64.497s
  std::string to_string() const;
};

class DynamicTTL;

/// Fluent construction of a DynamicTTL. Starts from a config (empty by default, or
/// DynamicTtlConfig::defaults()); each call edits it; build() validates. Not synchronised.
class DynamicTtlBuilder {
 public:
  DynamicTtlBuilder() = default;
  explicit DynamicTtlBuilder(DynamicTtlConfig base) : config_(std::move(base)) {}

  DynamicTtlBuilder& default_ttl(std::chrono::milliseconds ttl);
  DynamicTtlBuilder& bounds(std::chrono::milliseconds min, std::chrono::milliseconds max);
  /// +-percent of jitter after clamping; 0 disables.
  DynamicTtlBuilder& jitter(double percent);
  /// Makes jitter reproducible (see DynamicTTL).
  DynamicTtlBuilder& seed(std::uint64_t seed);
  /// Windows read the process's local time zone (the default).
  DynamicTtlBuilder& local_time();
  /// Windows read UTC plus a fixed offset (e.g. +60 min for CET without DST).
  DynamicTtlBuilder& utc_offset(std::chrono::minutes offset);
  /// Adds a content type, or replaces the one with the same name.
  DynamicTtlBuilder& content_type(std::string name, std::chrono::milliseconds ttl);
  DynamicTtlBuilder& content_type(ContentTypeTtl type);
  /// Appends a rule (rules apply in the order added).
  DynamicTtlBuilder& rule(TtlRule rule);
  /// Appends a window. @throws config_error on a malformed time.
  DynamicTtlBuilder& window(std::string_view from, std::string_view to, double factor,
                            std::string name = {}, std::uint8_t days = days::every_day);
  DynamicTtlBuilder& window(TtlWindow window);
  /// Turns adaptive TTL on with these settings (see AdaptiveTtl).
  DynamicTtlBuilder& adaptive(AdaptiveTtl settings);
  DynamicTtlBuilder& clear_rules();
  DynamicTtlBuilder& clear_windows();

  const DynamicTtlConfig& config() const noexcept { return config_; }

  /// @throws config_error when the config is invalid (see DynamicTtlConfig::validate).
  std::shared_ptr<DynamicTTL> build(std::shared_ptr<const Clock> clock = nullptr) const;

 private:
  DynamicTtlConfig config_;
};

namespace detail {
struct DynamicTtlState;
}

/// The shipped TtlPolicy: TTL = clamp(base(content type) x matching rules x time window,
/// min, max), then +-jitter and clamped again, so the result always lies in [min, max].
///
/// Thread-safety: every member is safe to call concurrently, including reload() while other
/// threads call ttl_for(). ttl_for() neither allocates nor locks: the config is compiled into
/// flat arrays and published through an atomic pointer; readers announce themselves on a
/// per-thread-striped counter so a reload frees the old config only once no reader can use it.
///
/// Jitter: with a seed, the n-th jitter draw of a policy (counting ttl_for and explain calls
/// that jitter, from its last load) depends only on the seed and n: the same seed and the same
/// calls give the same TTLs, on any thread and whatever other policies or threads did before.
/// With several threads calling one seeded policy, the order of their draws is their
/// interleaving (seeded draws share one counter per policy). Without a seed, each load seeds
/// from std::random_device and draws from per-thread stripes, so threads do not contend.
///
/// Time of day is read from the clock's wall_now() (system_clock when no clock is given) in the
/// configured zone. For process local time the UTC offset is looked up through localtime_r at
/// most once per wall-clock minute, so a change of the zone (TZ + tzset) shows within a minute.
class DynamicTTL final : public TtlPolicy {
 public:
  using Config = DynamicTtlConfig;
  using Builder = DynamicTtlBuilder;

  /// The shipped default policy, reading the real clock.
  DynamicTTL();
  /// @throws config_error when config is invalid.
  explicit DynamicTTL(DynamicTtlConfig config, std::shared_ptr<const Clock> clock = nullptr);
  ~DynamicTTL() override;
  DynamicTTL(const DynamicTTL&) = delete;
  DynamicTTL& operator=(const DynamicTTL&) = delete;

  /// A builder starting from an empty policy (scalar defaults only).
  static DynamicTtlBuilder builder() { return DynamicTtlBuilder(); }
  /// A builder starting from `base`, e.g. builder(DynamicTtlConfig::defaults()).
  static DynamicTtlBuilder builder(DynamicTtlConfig base) {
    return DynamicTtlBuilder(std::move(base));
  }
  /// @throws config_error (see DynamicTtlConfig::from_json).
  static std::shared_ptr<DynamicTTL> from_json(std::string_view json,
                                               std::shared_ptr<const Clock> clock = nullptr);
  /// @throws config_error (see DynamicTtlConfig::from_file).
  static std::shared_ptr<DynamicTTL> from_file(const std::string& path,
                                               std::shared_ptr<const Clock> clock = nullptr);

  /// The TTL for an entry of this content type written with this context: always within the
  /// effective [min_ttl, max_ttl] of the content type, hence positive. Lock- and allocation-free.
  std::chrono::milliseconds ttl_for(std::string_view content_type,
                                    const Context& context) const noexcept override;
  /// As ttl_for, with the learned factor of the key group when it has an estimate of its own
  /// (see AdaptiveTtl); otherwise exactly ttl_for. An empty group is ttl_for. A non-empty
  /// group on an adapted type takes a short shared lock (a hash lookup); allocation-free.
  std::chrono::milliseconds ttl_for_group(std::string_view content_type, std::string_view group,
                                          const Context& context) const noexcept override;

  /// Learns from what the library saw (see AdaptiveTtl); a no-op unless adaptation is enabled
  /// and the content type is listed. Lock-free lookup, then a short per-type lock.
  void observe(const TtlObservation& observation) const noexcept override;

  /// Each adapted content type's current factor, estimated change interval and the
  /// observations behind them, for statistics export. Empty when adaptation is off.
  std::vector<AdaptiveTypeStats> adaptive_stats() const override;
  /// True while adaptation is enabled (the Cache then reports tag and version invalidations).
  bool adapts() const noexcept override;

  /// The same computation with every step recorded. Draws jitter like ttl_for (so it advances
  /// a seeded sequence). @throws std::bad_alloc only.
  TtlExplanation explain(std::string_view content_type, const Context& context) const;
  /// explain() for ttl_for_group: also shows the group and whether it has its own estimate.
  TtlExplanation explain(std::string_view content_type, std::string_view group,
                         const Context& context) const;

  /// Replaces the policy atomically. On any error the previous policy stays in force (strong
  /// guarantee). Readers see either the old or the new policy, never a mix.
  /// @throws config_error when the new config is invalid.
  void reload(DynamicTtlConfig config);
  /// reload(DynamicTtlConfig::from_json(json)). @throws config_error.
  void load_json(std::string_view json);
  /// reload(DynamicTtlConfig::from_file(path)). @throws config_error.
  void load_file(const std::string& path);

  /// A copy of the policy in force.
  DynamicTtlConfig config() const;
  /// The policy in force as JSON (see DynamicTtlConfig::to_json).
  std::string to_json(int indent = 2) const;

 private:
  std::unique_ptr<detail::DynamicTtlState> state_;
};

}  // namespace ttlcache

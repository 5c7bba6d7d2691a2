// The load generator's stale-read rule (examples/service/loadgen/freshness.hpp): synthetic
// sequences of returned writes and reads, so that the service checks are known to catch a
// stale read and to leave reads that overlap a write in flight alone.
// SPDX-License-Identifier: MIT
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "freshness.hpp"

namespace {

using loadgen::Ack;
using loadgen::Freshness;
using loadgen::judge_read;
using std::chrono::milliseconds;

const auto t0 = loadgen::SteadyClock::time_point{} + std::chrono::hours(1);
constexpr int instance_a = 8001, instance_b = 8002;
constexpr milliseconds bound{2'000};

}  // namespace

TEST_CASE("freshness: a read older than a write that returned on its instance is stale",
          "[service][freshness]") {
  const std::vector<Ack> acks = {{47, instance_a, t0}, {48, instance_a, t0 + milliseconds(5)}};
  const auto sent = t0 + milliseconds(6);
  CHECK(judge_read(acks, instance_a, sent, bound, 48, 200, 47) == Freshness::stale);
  CHECK(judge_read(acks, instance_a, sent, bound, 48, 200, 48) == Freshness::fresh);
  CHECK(judge_read(acks, instance_a, sent, bound, 49, 200, 49) == Freshness::fresh);
  // The database is not consulted for "stale": a version older than the acknowledged one is
  // stale even if the database read before it (-1: unknown) said nothing.
  CHECK(judge_read(acks, instance_a, sent, bound, -1, 200, 46) == Freshness::stale);
}

TEST_CASE("freshness: a read that overlaps an edit still in flight is not stale",
          "[service][freshness]") {
  // The database already had 48 when the read left, but the edit that wrote it had not
  // returned: the promise (visible once returned) does not cover it.
  const std::vector<Ack> acks = {{47, instance_a, t0}};
  const auto sent = t0 + milliseconds(10);
  CHECK(judge_read(acks, instance_a, sent, bound, 48, 200, 47) == Freshness::overlapped);
  // A write returning after the read left is no promise either.
  const std::vector<Ack> later = {{47, instance_a, t0}, {48, instance_a, sent + milliseconds(1)}};
  CHECK(judge_read(later, instance_a, sent, bound, 48, 200, 47) == Freshness::overlapped);
  // No write returned at all: only overlaps or fresh reads.
  CHECK(judge_read({}, instance_a, sent, bound, 3, 200, 2) == Freshness::overlapped);
  CHECK(judge_read({}, instance_a, sent, bound, 3, 200, 3) == Freshness::fresh);
}

TEST_CASE("freshness: deletes are final", "[service][freshness]") {
  const std::vector<Ack> deleted = {{5, instance_a, t0},
                                    {loadgen::deleted_version, instance_a, t0 + milliseconds(1)}};
  const auto sent = t0 + milliseconds(2);
  CHECK(judge_read(deleted, instance_a, sent, bound, 0, 200, 5) == Freshness::stale);
  CHECK(judge_read(deleted, instance_a, sent, bound, 0, 404, 0) == Freshness::fresh);
  // A 404 overlapping a delete in flight, after an acknowledged edit: newer, not stale.
  const std::vector<Ack> edited = {{5, instance_a, t0}};
  CHECK(judge_read(edited, instance_a, sent, bound, 5, 404, 0) == Freshness::fresh);
  // The database said deleted, the delete had not returned: an overlap.
  CHECK(judge_read(edited, instance_a, sent, bound, 0, 200, 5) == Freshness::overlapped);
}

TEST_CASE("freshness: another instance's write may lag by the bus bound, not longer",
          "[service][freshness]") {
  const std::vector<Ack> acks = {{10, instance_a, t0}, {11, instance_b, t0 + milliseconds(100)}};
  // On instance A, 50 ms after B's edit returned: A's L1 may not have heard of it yet.
  CHECK(judge_read(acks, instance_a, t0 + milliseconds(150), bound, 11, 200, 10) ==
        Freshness::lagging);
  // But never older than A's own returned write.
  CHECK(judge_read(acks, instance_a, t0 + milliseconds(150), bound, 11, 200, 9) ==
        Freshness::stale);
  // On B itself, at once.
  CHECK(judge_read(acks, instance_b, t0 + milliseconds(150), bound, 11, 200, 10) ==
        Freshness::stale);
  // After the bound, on every instance.
  CHECK(judge_read(acks, instance_a, t0 + milliseconds(100) + bound, bound, 11, 200, 10) ==
        Freshness::stale);
  CHECK(judge_read(acks, instance_a, t0 + milliseconds(100) + bound, bound, 11, 200, 11) ==
        Freshness::fresh);
}

TEST_CASE("freshness: the ledger hands a read exactly the writes recorded before it",
          "[service][freshness]") {
  loadgen::WriteLedger ledger(4);
  CHECK(ledger.acknowledged(1).empty());
  for (std::int64_t v = 1; v <= 6; ++v) ledger.acknowledge(1, Ack{v, instance_a, t0});
  ledger.acknowledge(2, Ack{loadgen::deleted_version, instance_b, t0});
  const auto one = ledger.acknowledged(1);
  REQUIRE(one.size() == 4);  // the last four kept
  CHECK(one.front().version == 3);
  CHECK(one.back().version == 6);
  CHECK(judge_read(one, instance_a, t0, bound, -1, 200, 5) == Freshness::stale);
  const auto two = ledger.acknowledged(2);
  REQUIRE(two.size() == 1);
  CHECK(judge_read(two, instance_a, t0, bound, -1, 200, 1) == Freshness::lagging);
  CHECK(judge_read(two, instance_a, t0 + bound, bound, -1, 200, 1) == Freshness::stale);
}

TEST_CASE("freshness: the ledger is shared by threads", "[service][freshness][concurrency]") {
  loadgen::WriteLedger ledger;
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&ledger, t] {
      for (std::int64_t v = 1; v <= 500; ++v) ledger.acknowledge(t % 2, Ack{v, t, t0});
    });
  }
  std::int64_t newest = 0;
  for (int i = 0; i < 1000; ++i) {
    for (const Ack& a : ledger.acknowledged(0)) newest = std::max(newest, a.version);
  }
  for (auto& w : writers) w.join();
  std::int64_t last = 0;
  for (const Ack& a : ledger.acknowledged(0)) last = std::max(last, a.version);
  CHECK(last == 500);
  CHECK(newest <= 500);
}

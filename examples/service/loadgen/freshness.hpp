// The stale-read rule of the load generator: a sampled read is judged against the writes that
// had returned to their clients before it was sent, not against the database at that moment.
// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace loadgen {

using SteadyClock = std::chrono::steady_clock;

/// The "version" of a deleted file: newer than every version, since a delete is final (ids are
/// never reused). A 404 answer reads as this version.
constexpr std::int64_t deleted_version = std::numeric_limits<std::int64_t>::max();

/// A write of one file that returned to its client.
struct Ack {
  std::int64_t version = 0;  ///< what the write returned, or deleted_version
  int instance = 0;          ///< the service instance (port) that answered it
  SteadyClock::time_point at;
};

/// How one sampled read compares with the writes of its file.
enum class Freshness {
  fresh,       ///< at least as new as every write returned before it was sent
  overlapped,  ///< older than the database before it was sent, but only by writes not yet
               ///< returned then (in flight): allowed, the promise is about returned writes
  lagging,     ///< older than a write returned by another instance less than the bound
               ///< before: the invalidation message may not have arrived yet; allowed
  stale,       ///< older than a write returned before it was sent, by this instance or by
               ///< another one at least the bound before: a broken promise
};
const char* freshness_name(Freshness f);

/// Judges one read of a file.
///
/// - acks: the writes of the file that had returned before the read was sent;
/// - instance: the instance the read went to; sent: when it was sent;
/// - bound: how long another instance's write may take to reach this instance (the bus);
/// - db_before: the database's version read just before (0: no such file; -1: unknown);
/// - status, got: the answer (200 and the version it carries, or 404).
///
/// The rule: the read must be at least as new as every ack of its own instance and every ack
/// of another instance at least `bound` old when it was sent (404 counts as the newest state).
Freshness judge_read(const std::vector<Ack>& acks, int instance, SteadyClock::time_point sent,
                     std::chrono::milliseconds bound, std::int64_t db_before, int status,
                     std::int64_t got);

/// The writes that returned, per file, shared by the client threads.
///
/// Thread-safe (one mutex). Keeps the last `keep` acks of each file: forgetting older ones can
/// only make the check more lenient, never report a read that is fresh.
class WriteLedger {
 public:
  explicit WriteLedger(std::size_t keep = 16) : keep_(keep) {}
  /// Records a write of file id that returned `version` (deleted_version for a delete).
  void acknowledge(std::int64_t id, const Ack& ack);
  /// The writes of file id recorded so far (those that returned before this call).
  std::vector<Ack> acknowledged(std::int64_t id) const;

 private:
  std::size_t keep_;
  mutable std::mutex mutex_;
  std::unordered_map<std::int64_t, std::vector<Ack>> acks_;
};

}  // namespace loadgen

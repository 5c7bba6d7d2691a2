// The stale-read rule: judge_read and the shared ledger of returned writes.
// SPDX-License-Identifier: MIT
#include "freshness.hpp"

#include <algorithm>

namespace loadgen {

const char* freshness_name(Freshness f) {
  switch (f) {
    case Freshness::fresh:
      return "fresh";
    case Freshness::overlapped:
      return "overlapped";
    case Freshness::lagging:
      return "lagging";
    case Freshness::stale:
      return "stale";
  }
  return "?";
}

Freshness judge_read(const std::vector<Ack>& acks, int instance, SteadyClock::time_point sent,
                     std::chrono::milliseconds bound, std::int64_t db_before, int status,
                     std::int64_t got) {
  const std::int64_t seen = status == 404 ? deleted_version : got;
  std::int64_t required = 0, any = 0;
  for (const Ack& a : acks) {
    if (a.at > sent) continue;  // returned after the read left: no promise yet
    any = std::max(any, a.version);
    if (a.instance == instance || a.at + bound <= sent) required = std::max(required, a.version);
  }
  if (seen < required) return Freshness::stale;
  if (seen < any) return Freshness::lagging;
  const std::int64_t db = db_before == 0 ? deleted_version : db_before;
  if (db_before >= 0 && seen < db) return Freshness::overlapped;
  return Freshness::fresh;
}

void WriteLedger::acknowledge(std::int64_t id, const Ack& ack) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& v = acks_[id];
  if (v.size() >= keep_) v.erase(v.begin());
  v.push_back(ack);
}

std::vector<Ack> WriteLedger::acknowledged(std::int64_t id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = acks_.find(id);
  return it == acks_.end() ? std::vector<Ack>{} : it->second;
}

}  // namespace loadgen

// An event-sourced aggregate: the state rebuilt from its events is cached, and the next
// appended event invalidates it.
// SPDX-License-Identifier: MIT
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <ttlcache/ttlcache.hpp>

using namespace std::chrono_literals;

namespace {
struct Event {
  std::string type;  // "deposited" or "withdrawn"
  long amount;
};

// The event store: append-only streams per account.
class EventStore {
 public:
  void append(int account, Event e) { streams_[account].push_back(std::move(e)); }
  const std::vector<Event>& stream(int account) { return streams_[account]; }

 private:
  std::map<int, std::vector<Event>> streams_;
};

struct Balance {
  long cents = 0;
  std::size_t events = 0;
};
}  // namespace

int main() {
  EventStore store;
  int rebuilds = 0;
  auto rebuild = [&](int account) {  // replays the whole stream: the cost we want to avoid
    ++rebuilds;
    Balance b;
    for (const auto& e : store.stream(account)) {
      b.cents += e.type == "deposited" ? e.amount : -e.amount;
      ++b.events;
    }
    return b;
  };

  // With tags, so an aggregate's entries can be dropped by its tag.
  auto cache = ttlcache::CacheBuilder<std::string, Balance>("balances").tags().build();
  auto balance = [&](int account) {
    return cache.get_or_load(
        ttlcache::make_key("balance", account), [&] { return rebuild(account); },
        ttlcache::EntryOptions().ttl(1h).tag(ttlcache::make_key("account", account)));
  };
  // Appending an event invalidates every cached view of that aggregate.
  auto append = [&](int account, Event e) {
    store.append(account, std::move(e));
    cache.invalidate_tag(ttlcache::make_key("account", account));
  };

  append(7, {"deposited", 10'000});
  append(7, {"withdrawn", 2'500});
  const Balance first = balance(7);
  const Balance again = balance(7);  // served from the cache: no replay
  append(7, {"deposited", 500});
  const Balance after = balance(7);  // the new event made the cached state a miss

  std::printf("balance %ld (%zu events), again %ld, after a deposit %ld (%zu events)\n",
              first.cents, first.events, again.cents, after.cents, after.events);
  std::printf("stream replays: %d for 3 reads\n", rebuilds);
  return first.cents == 7'500 && after.cents == 8'000 && rebuilds == 2 ? 0 : 1;
}

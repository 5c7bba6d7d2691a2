// Two services sharing one Redis: namespaces, tagged entries, event-driven invalidation,
// write-through.
// SPDX-License-Identifier: MIT
//
// usage: microservice_layer [redis://127.0.0.1:6379/0]
//
// "files" and "stats" are two services, each with two instances (as two pods would be), all on
// one Redis. Each service has its own namespace; each instance has an in-process L1 in front of
// Redis, kept coherent by pub/sub. A file edit goes to the "database" first (write-through),
// then the cache is updated, the user's file lists are invalidated by tag, every file list is
// invalidated by an entity version bump, and the files service publishes a "file changed"
// event on a Redis channel; the stats service subscribes to it and invalidates the owner's
// statistics.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include <ttlcache/invalidation.hpp>
#include <ttlcache/redis.hpp>
#include <ttlcache/ttlcache.hpp>

using namespace std::chrono_literals;
using StringCache = ttlcache::Cache<std::string, std::string>;

namespace {

/// The source of truth (a database stand-in), shared by both services. Used from one thread.
class Database {
 public:
  void save_file(const std::string& id, const std::string& owner, const std::string& content) {
    if (content.empty()) throw std::runtime_error("refusing an empty file");
    files_[id] = {owner, content};
  }
  std::string file(const std::string& id) {
    ++queries_;
    return files_.at(id).second;
  }
  std::string list_of(const std::string& owner) {
    std::string out;
    for_owner(owner, [&](const std::string& id, const std::string&) {
      out += (out.empty() ? "" : ",") + id;
    });
    return "[" + out + "]";
  }
  std::string bytes_of(const std::string& owner) {
    std::size_t n = 0;
    for_owner(owner, [&](const std::string&, const std::string& c) { n += c.size(); });
    return std::to_string(n);
  }
  int queries() const { return queries_; }

 private:
  template <class F>
  void for_owner(const std::string& owner, F f) {
    ++queries_;
    for (const auto& [id, file] : files_) {
      if (file.first == owner) f(id, file.second);
    }
  }
  std::map<std::string, std::pair<std::string, std::string>> files_;  // id -> owner, content
  int queries_ = 0;
};

/// One instance of a service: an L1 + Redis cache with tags under the service's namespace, its
/// L1 kept coherent with the other instances over the namespace's pub/sub channel.
struct Instance {
  StringCache cache;

  Instance(const std::string& url, const std::string& ns)
      : cache(ttlcache::CacheBuilder<std::string, std::string>(ns)  // keys become "<ns>:<key>"
                  .redis(url)
                  .tiered(10s)  // the staleness bound if invalidation messages are ever lost
                  .tags()
                  .build()) {}

  std::uint64_t l1_hits() const {
    const auto stats = cache.stats();
    const auto l1 = stats.tiers.find("l1");
    return l1 == stats.tiers.end() ? 0 : l1->second.hits;
  }
  /// The L1 answers only once the instance listens to its channel (until then reads go to
  /// Redis, so nothing stale is served): wait for that, bounded, before the checks.
  void wait_until_listening() {
    const std::uint64_t before = l1_hits();
    for (int i = 0; i < 2500; ++i) {
      cache.set("probe", "x", 1min);
      if (cache.get("probe") && l1_hits() > before) return;
      std::this_thread::sleep_for(2ms);
    }
    throw std::runtime_error("no pub/sub subscription after 5 s");
  }
};

/// Waits until pred holds, up to about 5 s (a loaded machine): invalidations reach the other
/// instances asynchronously, usually within a millisecond.
template <class Pred>
bool soon(Pred pred) {
  for (int i = 0; i < 2500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

int check(bool ok, const char* what) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string url = argc > 1 ? argv[1] : "redis://127.0.0.1:6379/0";
  const std::string run =
      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  int failures = 0;
  try {
    Database db;
    db.save_file("f1", "alice", "hello");
    db.save_file("f2", "alice", "world!");
    db.save_file("f3", "bob", "x");

    // Two services, two instances each. One channel per service: each cares for its own keys.
    Instance files_a(url, "files-" + run);
    Instance files_b(url, "files-" + run);
    Instance stats_a(url, "stats-" + run);
    Instance stats_b(url, "stats-" + run);
    for (Instance* i : {&files_a, &files_b, &stats_a, &stats_b}) i->wait_until_listening();
    const std::uint64_t l1_hits_before = files_b.l1_hits();

    // Readers: every cached value carries tags saying what it was computed from.
    auto read_file = [&](Instance& i, const std::string& id) {
      return i.cache.get_or_load(
          "file:" + id, [&] { return db.file(id); },
          ttlcache::EntryOptions().ttl(5min).tag("file:" + id));
    };
    auto read_list = [&](Instance& i, const std::string& owner) {
      return i.cache.get_or_load(
          "list:" + owner, [&] { return db.list_of(owner); },
          ttlcache::EntryOptions().ttl(5min).tag("user:" + owner).entity("file"));
    };
    auto read_bytes = [&](Instance& i, const std::string& owner) {
      return i.cache.get_or_load(
          "bytes:" + owner, [&] { return db.bytes_of(owner); },
          ttlcache::EntryOptions().ttl(5min).tag("user:" + owner));
    };

    std::printf("warm-up: both instances of both services read through their caches\n");
    for (Instance* i : {&files_a, &files_b}) {
      read_file(*i, "f1");
      read_list(*i, "alice");
      read_list(*i, "bob");
    }
    for (Instance* i : {&stats_a, &stats_b}) read_bytes(*i, "alice");
    const int warm_queries = db.queries();
    for (Instance* i : {&files_a, &files_b}) read_list(*i, "alice");
    read_bytes(stats_b, "alice");
    failures += check(db.queries() == warm_queries, "repeat reads are served by the caches");
    // A's warm-up writes reach B as invalidations a moment later; one arriving after B filled
    // its L1 from Redis evicts that copy (safe: B refills it from Redis on the next read). So
    // the L1 answers once they have all arrived: read again until it does, bounded.
    failures += check(soon([&] {
                        read_list(files_b, "alice");
                        return files_b.l1_hits() > l1_hits_before;
                      }),
                      "...from the in-process L1");

    // Domain events on their own channel: a PubSubBus carries any (scope, subject), here
    // ("file-changed", owner). Two bus objects: a bus ignores what it published itself.
    ttlcache::redis::PubSubOptions events;
    events.redis = ttlcache::redis::RedisOptions::from_url(url);
    events.channel = "file-events-" + run;
    ttlcache::redis::PubSubBus files_events(events);  // the files service publishes
    ttlcache::redis::PubSubBus stats_events(events);  // the stats service listens
    const auto subscription = stats_events.subscribe(
        [&](const ttlcache::InvalidationMessage& m) {
          // On the bus thread; the bump reaches stats_b over the stats invalidation channel.
          if (m.scope == "file-changed") stats_a.cache.invalidate_tag("user:" + m.subject);
        },
        [] {});
    if (!stats_events.wait_until_subscribed(5s)) throw std::runtime_error("no event channel");
    auto publish_file_changed = [&](const std::string& owner) {
      ttlcache::InvalidationMessage m;
      m.scope = "file-changed";
      m.subject = owner;
      files_events.publish(m);
    };

    std::printf("alice edits f1 on instance A of the files service (write-through)\n");
    const auto edit = ttlcache::invalidates(
        files_a.cache, ttlcache::Invalidation<std::string>{{}, {"user:alice"}, {"file"}, {}},
        [&](const std::string& id, const std::string& content) {
          ttlcache::write_through(files_a.cache, "file:" + id, content, 5min,
                                  [&](const std::string& c) { db.save_file(id, "alice", c); },
                                  {"file:" + id});
          publish_file_changed("alice");
        });
    edit("f1", "hello, edited");

    failures += check(soon([&] { return read_file(files_b, "f1") == "hello, edited"; }),
                      "instance B of files serves the new content (its L1 copy was evicted)");
    failures += check(soon([&] { return !files_b.cache.get("list:alice"); }),
                      "alice's file lists are stale on B (tag user:alice)");
    failures += check(soon([&] { return !files_b.cache.get("list:bob"); }),
                      "every file list is stale on B (entity version of \"file\" bumped)");
    failures +=
        check(soon([&] {
                return !stats_a.cache.get("bytes:alice") && !stats_b.cache.get("bytes:alice");
              }),
              "the stats service got the event and dropped alice's statistics on both "
              "instances");
    failures += check(read_bytes(stats_b, "alice") == "19", "...and recomputes them (19 bytes)");

    std::printf("a failing write changes nothing in the cache\n");
    read_list(files_a, "bob");
    bool threw = false;
    try {
      edit("f1", "");  // the database refuses it
    } catch (const std::runtime_error&) {
      threw = true;
    }
    failures += check(threw, "the write's exception reaches the caller");
    failures += check(
        read_file(files_a, "f1") == "hello, edited" && files_a.cache.get("list:bob").has_value(),
        "nothing was updated or invalidated");

    std::printf("namespaces keep the services apart\n");
    files_a.cache.set("shared-name", "files' value", 1min);
    stats_a.cache.set("shared-name", "stats' value", 1min);
    failures +=
        check(files_b.cache.get("shared-name") == std::optional<std::string>("files' value"),
              "same key, different namespaces, different values");

    std::printf("files B: %llu invalidations received from other instances\n",
                static_cast<unsigned long long>(
                    files_b.cache.stats().invalidated(ttlcache::InvalidationKind::remote)));
    stats_events.unsubscribe(subscription);
    for (Instance* i : {&files_a, &stats_a}) i->cache.clear();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "microservice_layer: %s\n", e.what());
    return 1;
  }
  std::printf(failures == 0 ? "all checks passed\n" : "%d check(s) failed\n", failures);
  return failures == 0 ? 0 : 1;
}

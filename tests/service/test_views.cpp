// The service's views: cached answers equal the database's, and writes show at once in every
// view they change (tags, the bookmark entity version, write-through).
// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "cache_setup.hpp"
#include "dataset.hpp"
#include "markdown.hpp"
#include "sqlite_database.hpp"
#include "views.hpp"

namespace {

/// A generated database in a temporary directory, the same views with and without a cache.
struct Fixture {
  Fixture() {
    char pattern[] = "/tmp/ttlcache-service-test-XXXXXX";
    REQUIRE(mkdtemp(pattern) != nullptr);
    dir = pattern;
    db = service::open_sqlite(dir + "/t.db", 2);
    service::DatasetOptions data;
    data.users = 20;
    data.files = 200;
    service::generate(*db, data);
    cache = service::make_service_cache({});
    cached = std::make_unique<service::Views>(*db, cache.get());
    direct = std::make_unique<service::Views>(*db, nullptr);
  }
  ~Fixture() {
    cached.reset();
    direct.reset();
    cache.reset();
    db.reset();
    for (const char* f : {"/t.db", "/t.db-wal", "/t.db-shm"}) std::remove((dir + f).c_str());
    rmdir(dir.c_str());
  }
  std::string dir;
  std::unique_ptr<service::Database> db;
  std::unique_ptr<service::ServiceCache> cache;
  std::unique_ptr<service::Views> cached;
  std::unique_ptr<service::Views> direct;
};

std::int64_t owner_of(service::Views& v, std::int64_t id) {
  return nlohmann::json::parse(v.file_content(id).body)["owner"].get<std::int64_t>();
}

}  // namespace

TEST_CASE("cached views answer as the database does, and the second read is a hit") {
  Fixture f;
  for (std::int64_t id = 1; id <= 5; ++id) {
    CHECK(f.cached->file_content(id).body == f.direct->file_content(id).body);
    CHECK(f.cached->markdown(id).body == f.direct->markdown(id).body);
  }
  CHECK(f.cached->file_list(1, 0).body == f.direct->file_list(1, 0).body);
  CHECK(f.cached->public_stats().body == f.direct->public_stats().body);
  CHECK(f.cached->search("cache server").body == f.direct->search("cache server").body);
  const auto hits = f.cached->counters().cache_hits;
  CHECK(f.cached->file_content(3).body == f.direct->file_content(3).body);
  CHECK(f.cached->counters().cache_hits == hits + 1);
  CHECK(f.cached->file_content(100'000).status == 404);
}

TEST_CASE("an edit shows at once in the file, its render, the owner's list and stats") {
  Fixture f;
  const std::int64_t id = 7;
  const std::int64_t owner = owner_of(*f.direct, id);
  // Cache every view the edit changes.
  f.cached->file_content(id);
  const auto old_render = f.cached->markdown(id).body;
  f.cached->file_list(owner, 0);
  f.cached->user_stats(owner);

  const auto edited = f.cached->edit_file(id, "# edited\n\nnew *text*\n");
  REQUIRE(edited.status == 200);
  CHECK(f.cached->file_content(id).body == edited.body);
  CHECK(f.cached->file_content(id).body == f.direct->file_content(id).body);
  // The render is written through: read back at once, it is a hit with the new text.
  const auto hits = f.cached->counters().cache_hits;
  CHECK(f.cached->markdown(id).body == "<h1>edited</h1>\n<p>new <em>text</em></p>\n");
  CHECK(f.cached->counters().cache_hits == hits + 1);
  CHECK(f.cached->markdown(id).body == f.direct->markdown(id).body);
  CHECK(f.cached->markdown(id).body != old_render);
  CHECK(f.cached->file_list(owner, 0).body == f.direct->file_list(owner, 0).body);
  CHECK(f.cached->user_stats(owner).body == f.direct->user_stats(owner).body);
}

TEST_CASE("a delete leaves no view showing the file, other users' bookmarks included") {
  Fixture f;
  // A bookmarked file and a user (not necessarily its owner) who bookmarked it.
  std::int64_t user = 0, file = 0;
  for (std::int64_t u = 1; u <= 20 && file == 0; ++u) {
    const auto b = nlohmann::json::parse(f.direct->bookmarks(u).body);
    if (!b["files"].empty()) {
      user = u;
      file = b["files"][0]["id"].get<std::int64_t>();
    }
  }
  REQUIRE(file != 0);
  const std::int64_t owner = owner_of(*f.direct, file);
  f.cached->bookmarks(user);
  f.cached->file_content(file);
  f.cached->markdown(file);
  f.cached->file_list(owner, 0);

  REQUIRE(f.cached->delete_file(file).status == 200);
  CHECK(f.cached->file_content(file).status == 404);
  CHECK(f.cached->markdown(file).status == 404);
  const auto bookmarks = nlohmann::json::parse(f.cached->bookmarks(user).body);
  for (const auto& b : bookmarks["files"]) CHECK(b["id"].get<std::int64_t>() != file);
  CHECK(f.cached->bookmarks(user).body == f.direct->bookmarks(user).body);
  CHECK(f.cached->file_list(owner, 0).body == f.direct->file_list(owner, 0).body);
  CHECK(f.cached->delete_file(file).status == 404);
}

TEST_CASE("a delete drops only the bookmark lists that show the file") {
  Fixture f;
  // Users with and without the file on their list.
  std::int64_t file = 0;
  std::vector<std::int64_t> with, without;
  for (std::int64_t u = 1; u <= 20; ++u) {
    const auto b = nlohmann::json::parse(f.direct->bookmarks(u).body);
    if (file == 0 && !b["files"].empty()) file = b["files"][0]["id"].get<std::int64_t>();
  }
  REQUIRE(file != 0);
  for (std::int64_t u = 1; u <= 20; ++u) {
    const auto b = nlohmann::json::parse(f.direct->bookmarks(u).body);
    bool shows = false;
    for (const auto& e : b["files"]) shows = shows || e["id"].get<std::int64_t>() == file;
    (shows ? with : without).push_back(u);
    f.cached->bookmarks(u);
  }
  REQUIRE(!with.empty());
  REQUIRE(!without.empty());
  // The owner's own writes do not touch their bookmarks: an edit, then a delete.
  const std::int64_t owner = owner_of(*f.direct, file);
  auto hits = f.cached->counters().cache_hits;
  REQUIRE(f.cached->edit_file(file, "# still here\n").status == 200);
  f.cached->bookmarks(owner);
  CHECK(f.cached->counters().cache_hits == hits + 1);

  REQUIRE(f.cached->delete_file(file).status == 200);
  for (const auto u : with) {
    hits = f.cached->counters().cache_hits;
    CHECK(f.cached->bookmarks(u).body == f.direct->bookmarks(u).body);
    CHECK(f.cached->counters().cache_hits == hits);  // reloaded: the file is gone from it
  }
  for (const auto u : without) {
    hits = f.cached->counters().cache_hits;
    CHECK(f.cached->bookmarks(u).body == f.direct->bookmarks(u).body);
    CHECK(f.cached->counters().cache_hits == hits + 1);  // untouched
  }
}

TEST_CASE("search words are a set: order, case and repeats share one entry") {
  Fixture f;
  const auto first = f.cached->search("cache server");
  REQUIRE(first.status == 200);
  CHECK(nlohmann::json::parse(first.body)["query"] == "cache server");
  const auto hits = f.cached->counters().cache_hits;
  CHECK(f.cached->search("Server  cache").body == first.body);
  CHECK(f.cached->search("server cache cache").body == first.body);
  CHECK(f.cached->counters().cache_hits == hits + 2);
  CHECK(f.direct->search("SERVER cache").body == first.body);
  CHECK(f.cached->search("   ").status == 200);
}

TEST_CASE("a new file is written through: its first read is a hit, the owner's list shows it") {
  Fixture f;
  const std::int64_t owner = 3;
  f.cached->file_list(owner, 0);
  const auto created = f.cached->create_file(owner, "new.md", "markdown", "# new\n");
  REQUIRE(created.status == 201);
  const auto id = nlohmann::json::parse(created.body)["id"].get<std::int64_t>();
  const auto hits = f.cached->counters().cache_hits;
  CHECK(f.cached->file_content(id).body == created.body);
  CHECK(f.cached->counters().cache_hits == hits + 1);
  const auto list = nlohmann::json::parse(f.cached->file_list(owner, 0).body);
  REQUIRE(!list["files"].empty());
  CHECK(list["files"][0]["id"].get<std::int64_t>() == id);
}

TEST_CASE("on a cache shared with other processes, writes invalidate and never write through") {
  // Two instances' edits of one file are not serialised, so a write-through of the older one
  // could land last and stay; shared views leave the next read to load the database's copy.
  Fixture f;
  service::Views shared(*f.db, f.cache.get(), /*shared=*/true);
  const std::int64_t id = 9;
  shared.file_content(id);
  shared.markdown(id);
  const auto edited = shared.edit_file(id, "# shared\n");
  REQUIRE(edited.status == 200);
  auto hits = shared.counters().cache_hits;
  CHECK(shared.file_content(id).body == edited.body);
  CHECK(shared.markdown(id).body == "<h1>shared</h1>\n");
  CHECK(shared.counters().cache_hits == hits);  // both loaded, not written through
  CHECK(shared.file_content(id).body == f.direct->file_content(id).body);
  CHECK(shared.counters().cache_hits == hits + 1);  // and cached again by that load

  const auto created = shared.create_file(4, "new.md", "markdown", "# new\n");
  REQUIRE(created.status == 201);
  const auto new_id = nlohmann::json::parse(created.body)["id"].get<std::int64_t>();
  hits = shared.counters().cache_hits;
  CHECK(shared.file_content(new_id).body == created.body);
  CHECK(shared.counters().cache_hits == hits);
}

TEST_CASE("markdown escapes raw HTML, and ETags follow the bytes") {
  CHECK(service::render_markdown("<script>x</script>\n").find("<script>") == std::string::npos);
  CHECK(service::etag_of("a") == service::etag_of("a"));
  CHECK(service::etag_of("a") != service::etag_of("b"));
  CHECK(service::etag_of("").size() == 18);  // 16 hex digits in quotes
}

TEST_CASE("views invalidated by tag live 1800 s (times rules), the others keep the table TTL") {
  const auto cache = service::make_service_cache({});
  const auto& policy = *cache->options().ttl_policy;
  using std::chrono::seconds;
  // Whatever the time of day (x0.7 to x1.5) and the 10 % jitter.
  for (const char* type : {"file_list", "user_stats", "bookmarks"}) {
    INFO(type);
    CHECK(policy.ttl_for(type, {}) >= seconds(1800 * 7 / 10 * 9 / 10));
  }
  CHECK(policy.ttl_for("search_results", {}) <= seconds(180 * 15 / 10 * 11 / 10));
  CHECK(policy.ttl_for("public_stats", {}) <= seconds(600 * 15 / 10 * 11 / 10));
}

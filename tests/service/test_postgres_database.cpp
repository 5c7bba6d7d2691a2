// The service's PostgreSQL database answers as the SQLite one does for the same seeded data,
// and stays consistent under concurrent writes (against the fixture's private server).
// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "dataset.hpp"
#include "postgres_database.hpp"
#include "sqlite_database.hpp"

namespace {

/// The fixture's server (postgres_fixture.sh writes its URL); a missing one fails the test.
std::string server_url() {
  const char* info = std::getenv("TTLCACHE_TEST_POSTGRES_INFO");
  REQUIRE(info != nullptr);
  std::ifstream in(info);
  INFO("postgres.info: " << info << " (did the postgres_server_start fixture run?)");
  REQUIRE(in.good());
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("url=", 0) == 0) return line.substr(4);
  }
  FAIL("no url= line in " << info);
  return {};
}

/// A scratch database of its own, dropped at the end.
struct Scratch {
  Scratch() : server(server_url()) {
    static std::atomic<int> n{0};
    name = "ttlcache_test_" + std::to_string(getpid()) + "_" + std::to_string(++n);
    service::postgres_create_database(server, name);
    conninfo = service::postgres_with_database(server, name);
  }
  ~Scratch() {
    try {
      service::postgres_drop_database(server, name);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dropping %s: %s\n", name.c_str(), e.what());
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  std::string server;
  std::string name;
  std::string conninfo;
};

/// A SQLite file in a temporary directory.
struct SqliteFile {
  SqliteFile() {
    char pattern[] = "/tmp/ttlcache-pg-test-XXXXXX";
    REQUIRE(mkdtemp(pattern) != nullptr);
    dir = pattern;
  }
  ~SqliteFile() {
    for (const char* f : {"/t.db", "/t.db-wal", "/t.db-shm"}) std::remove((dir + f).c_str());
    rmdir(dir.c_str());
  }
  SqliteFile(const SqliteFile&) = delete;
  SqliteFile& operator=(const SqliteFile&) = delete;
  std::string path() const { return dir + "/t.db"; }
  std::string dir;
};

std::set<std::int64_t> ids(const nlohmann::json& search) {
  std::set<std::int64_t> out;
  for (const auto& r : search["results"]) out.insert(r["id"].get<std::int64_t>());
  return out;
}

}  // namespace

TEST_CASE("postgres: the same seeded data answers every read as SQLite does") {
  Scratch pg_db;
  SqliteFile file;
  auto pg = service::open_postgres(pg_db.conninfo, 2, true);
  auto lite = service::open_sqlite(file.path(), 2);
  service::DatasetOptions data;
  data.users = 20;
  data.files = 200;
  service::generate(*pg, data);
  service::generate(*lite, data);

  for (std::int64_t id = 0; id <= data.files + 1; ++id) {
    INFO("file " << id);
    REQUIRE(pg->file(id) == lite->file(id));
  }
  for (std::int64_t user = 1; user <= data.users; ++user) {
    INFO("user " << user);
    for (int page = 0; page < 3; ++page) {
      REQUIRE(pg->file_list(user, page, 7) == lite->file_list(user, page, 7));
    }
    REQUIRE(pg->user_stats(user) == lite->user_stats(user));
    REQUIRE(pg->bookmarks(user) == lite->bookmarks(user));
  }
  REQUIRE(pg->public_stats() == lite->public_stats());
  REQUIRE(pg->public_stats()["files"] == data.files);

  // Search: the same matches (the ranking functions differ: FTS5's bm25, ts_rank).
  for (const std::string q : {"cache", "mutex buffer", "histogram", "nosuchword", "  "}) {
    INFO("search '" << q << "'");
    const auto p = pg->search(q, 1000);
    REQUIRE(p["query"] == q);
    REQUIRE(ids(p) == ids(lite->search(q, 1000)));
  }
  REQUIRE(!ids(pg->search("cache", 1000)).empty());
  // A file name's parts are words too, and the user's text is never query syntax.
  const auto name = (*pg->file(17))["name"].get<std::string>();
  REQUIRE(ids(pg->search(name.substr(0, name.find('_')), 1000)).count(17) == 1);
  REQUIRE(pg->search("cache & ! ( :* '\"", 10)["results"].is_array());
}

TEST_CASE("postgres: writes change what reads return, and the same way as SQLite") {
  Scratch pg_db;
  SqliteFile file;
  auto pg = service::open_postgres(pg_db.conninfo, 2, true);
  auto lite = service::open_sqlite(file.path(), 2);
  service::DatasetOptions data;
  data.users = 10;
  data.files = 50;
  service::generate(*pg, data);
  service::generate(*lite, data);
  for (auto* db : {pg.get(), lite.get()}) {
    const auto created = db->create_file(3, "new_file.md", "go", "# brand new\n\nzebra text\n");
    REQUIRE(created["id"] == 51);
    REQUIRE(created["version"] == 1);
    const auto edited = db->edit_file(51, "# edited\n\nzebra again\n");
    REQUIRE(edited);
    REQUIRE((*edited)["version"] == 2);
    REQUIRE(db->file_version(51) == 2);
    REQUIRE(!db->edit_file(999, "x"));
    db->add_bookmark(4, 51, 100);
    db->add_bookmark(4, 51, 100);  // already there: no error, no duplicate
    REQUIRE(db->bookmarks(4)["files"][0]["id"] == 51);
    REQUIRE(ids(db->search("zebra", 10)) == std::set<std::int64_t>{51});
  }
  REQUIRE(pg->file(51) == lite->file(51));
  REQUIRE(pg->bookmarks(4) == lite->bookmarks(4));
  REQUIRE(pg->user_stats(3) == lite->user_stats(3));

  for (auto* db : {pg.get(), lite.get()}) {
    REQUIRE(db->delete_file(51) == 3);
    REQUIRE(!db->delete_file(51));
    REQUIRE(!db->file(51));
    REQUIRE(!db->file_version(51));
    REQUIRE(ids(db->search("zebra", 10)).empty());
    const auto marks = db->bookmarks(4);  // named: a range-for would not keep a temporary's part
    for (const auto& f : marks["files"]) REQUIRE(f["id"] != 51);
    // A deleted id is never reused.
    REQUIRE(db->create_file(3, "again.md", "go", "again")["id"] == 52);
  }
  REQUIRE(pg->public_stats() == lite->public_stats());
}

TEST_CASE("postgres: concurrent edits through a small pool lose nothing", "[concurrency]") {
  Scratch pg_db;
  auto pg = service::open_postgres(pg_db.conninfo, 3, true);
  service::DatasetOptions data;
  data.users = 5;
  data.files = 20;
  service::generate(*pg, data);
  const auto before = pg->counters();
  constexpr int threads = 6;  // more threads than connections: some wait for a lease
  constexpr int edits = 20;
  std::vector<std::thread> workers;
  std::atomic<int> failures{0};
  std::vector<std::vector<std::int64_t>> seen(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        for (int i = 0; i < edits; ++i) {
          const auto f =
              pg->edit_file(1 + (i % 2), "edit " + std::to_string(t) + "/" + std::to_string(i));
          if (!f) throw std::runtime_error("file vanished");
          seen[static_cast<std::size_t>(t)].push_back((*f)["updated_at"].get<std::int64_t>());
          pg->file_list(1, 0, 10);
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "worker %d: %s\n", t, e.what());
        ++failures;
      }
    });
  }
  for (auto& w : workers) w.join();
  REQUIRE(failures == 0);
  // Every edit counted once, on both files, and the update clock never repeated a value.
  REQUIRE(*pg->file_version(1) + *pg->file_version(2) == 2 + threads * edits);
  std::vector<std::int64_t> all;
  for (const auto& s : seen) all.insert(all.end(), s.begin(), s.end());
  std::sort(all.begin(), all.end());
  REQUIRE(std::adjacent_find(all.begin(), all.end()) == all.end());
  REQUIRE(pg->counters().queries - before.queries == 2u * threads * edits);
}

TEST_CASE("postgres: a connection failure names the server and hides the password") {
  try {
    service::open_postgres("postgresql://someone:s3cret-pw@127.0.0.1:1/nowhere", 1, false);
    FAIL("connected to port 1");
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    INFO(what);
    REQUIRE(what.find("postgres: cannot connect") != std::string::npos);
    REQUIRE(what.find("127.0.0.1") != std::string::npos);
    REQUIRE(what.find("s3cret-pw") == std::string::npos);
  }
  REQUIRE_THROWS_AS(service::postgres_with_database("postgresql://a:b@[bad", "x"),
                    std::runtime_error);
  REQUIRE_THROWS_AS(service::postgres_create_database("", "Robert'); DROP"), std::invalid_argument);
}

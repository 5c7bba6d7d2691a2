// PostgreSQL implementation of the service's Database: libpq, prepared statements per pooled
// connection, the same queries and JSON answers as sqlite_database.cpp.
// SPDX-License-Identifier: MIT
#include "postgres_database.hpp"

#include <libpq-fe.h>

#include <condition_variable>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace service {
namespace {

/// libpq's messages end with a newline; ours do not.
std::string trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? std::string("unknown error") : s;
}

/// "db NAME on HOST:PORT": what a message may say about a connection (no user, no password).
std::string describe(const PGconn* c) {
  const char* db = PQdb(c);
  const char* host = PQhost(c);
  const char* port = PQport(c);
  return std::string("db ") + (db ? db : "?") + " on " + (host && *host ? host : "local socket") +
         ":" + (port && *port ? port : "5432");
}

/// Connects, or throws with the server's (or libpq's) reason. libpq's connection errors name
/// the host and port, never the password.
PGconn* connect(const std::string& conninfo) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (c == nullptr) throw std::runtime_error("postgres: cannot connect: out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    const std::string reason = trimmed(PQerrorMessage(c));
    PQfinish(c);
    throw std::runtime_error("postgres: cannot connect: " + reason);
  }
  return c;
}

/// A query's result; throws unless it succeeded.
class Result {
 public:
  Result(PGconn* c, PGresult* r, const char* what) : r_(r) {
    const ExecStatusType st = r_ ? PQresultStatus(r_) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      const std::string reason = trimmed(r_ ? PQresultErrorMessage(r_) : PQerrorMessage(c));
      PQclear(r_);
      r_ = nullptr;
      throw std::runtime_error("postgres (" + describe(c) + "): " + what + ": " + reason);
    }
  }
  ~Result() { PQclear(r_); }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  int rows() const { return PQntuples(r_); }
  std::int64_t integer(int row, int col) const {
    // Text format: sum() answers numeric, count() bigint; both print as plain integers here.
    return std::strtoll(PQgetvalue(r_, row, col), nullptr, 10);
  }
  std::string text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col),
                       static_cast<std::size_t>(PQgetlength(r_, row, col)));
  }

 private:
  PGresult* r_;
};

/// A statement parameter in libpq's text format.
struct Param {
  Param(std::int64_t v) : text(std::to_string(v)) {}  // NOLINT(google-explicit-constructor)
  Param(int v) : text(std::to_string(v)) {}           // NOLINT(google-explicit-constructor)
  Param(std::string v) : text(std::move(v)) {}        // NOLINT(google-explicit-constructor)
  std::string text;
};

/// One connection and its prepared statements (prepared on first use).
class Connection {
 public:
  explicit Connection(const std::string& conninfo) : c_(connect(conninfo)) {
    // A search without a lexeme draws a NOTICE, which libpq would print on stderr.
    exec("SET client_min_messages TO warning");
  }
  ~Connection() { PQfinish(c_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// One or more statements without parameters (the simple query protocol).
  void exec(const char* sql) { const Result checked(c_, PQexec(c_, sql), sql); }

  /// A prepared statement, prepared once per connection (keyed by the literal's address).
  Result run(const char* sql, std::initializer_list<Param> params) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
      const std::string name = "s" + std::to_string(statements_.size());
      const Result prepared(c_, PQprepare(c_, name.c_str(), sql, 0, nullptr), sql);
      it = statements_.emplace(sql, name).first;
    }
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p.text.c_str());
    return Result(c_,
                  PQexecPrepared(c_, it->second.c_str(), static_cast<int>(values.size()),
                                 values.data(), nullptr, nullptr, 0),
                  sql);
  }

  /// After a lost connection: reconnect (the server forgot the prepared statements).
  void repair() {
    if (PQstatus(c_) == CONNECTION_OK) return;
    PQreset(c_);
    statements_.clear();
    if (PQstatus(c_) == CONNECTION_OK) {
      try {
        exec("SET client_min_messages TO warning");
      } catch (const std::exception&) {  // the next query reports it
      }
    }
  }

 private:
  PGconn* c_;
  std::map<const char*, std::string> statements_;
};

/// PostgreSQL's text form of an array parameter: {1,2} or {"a","b \"c\""}.
std::string array(const std::vector<std::int64_t>& values) {
  std::string out = "{";
  for (const auto v : values) {
    if (out.size() > 1) out += ',';
    out += std::to_string(v);
  }
  return out + "}";
}
std::string array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (const auto& v : values) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (const char ch : v) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  return out + "}";
}

// The columns of a file, in the order file_row() reads them.
#define TTLCACHE_SERVICE_PG_FILE_COLUMNS \
  "id, owner, name, language, size, version, updated_at, content"

constexpr const char* drop_schema = "DROP TABLE IF EXISTS bookmarks, files, users, update_clock";

// IDENTITY: a deleted file's id is never reused (the stale-read checker relies on it), and a
// fresh table numbers the generated files 1..n as SQLite does. The search vector is stored
// and indexed (GIN); '_' and '.' become spaces so that "cache_server_12.md" yields the words
// "cache", "server", "12", "md", as SQLite's FTS5 tokenizer splits it.
constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS users(id BIGINT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner BIGINT NOT NULL,
  name TEXT NOT NULL, language TEXT NOT NULL, content TEXT NOT NULL, size BIGINT NOT NULL,
  version BIGINT NOT NULL, updated_at BIGINT NOT NULL,
  search tsvector GENERATED ALWAYS AS
    (to_tsvector('simple', translate(name, '_.', '  ') || ' ' || content)) STORED);
CREATE INDEX IF NOT EXISTS files_by_owner ON files(owner, updated_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS files_search ON files USING GIN(search);
CREATE TABLE IF NOT EXISTS bookmarks(
  user_id BIGINT NOT NULL, file_id BIGINT NOT NULL, created_at BIGINT NOT NULL,
  PRIMARY KEY(user_id, file_id));
CREATE INDEX IF NOT EXISTS bookmarks_by_file ON bookmarks(file_id);
-- Update times are a sequence, not the wall clock (see sqlite_database.cpp); a row, so that
-- its lock orders the writers and instances sharing the database share it.
CREATE TABLE IF NOT EXISTS update_clock(value BIGINT NOT NULL);
INSERT INTO update_clock SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM update_clock);
)sql";

class PostgresDatabase final : public Database {
 public:
  PostgresDatabase(const std::string& conninfo, int connections, bool fresh) {
    if (connections < 1) throw std::invalid_argument("postgres: connections must be at least 1");
    for (int i = 0; i < connections; ++i) {
      all_.push_back(std::make_unique<Connection>(conninfo));
      if (i == 0) {
        if (fresh) all_.front()->exec(drop_schema);
        all_.front()->exec(schema);
      }
      idle_.push_back(all_.back().get());
    }
  }

  std::optional<nlohmann::json> file(std::int64_t id) override {
    return measured([&]() -> std::optional<nlohmann::json> {
      Lease c(*this);
      const auto r =
          c->run("SELECT " TTLCACHE_SERVICE_PG_FILE_COLUMNS " FROM files WHERE id = $1", {id});
      if (r.rows() == 0) return std::nullopt;
      return file_row(r);
    });
  }

  nlohmann::json file_list(std::int64_t user, int page, int per_page) override {
    return measured([&] {
      Lease c(*this);
      nlohmann::json out{{"user", user}, {"page", page}, {"per_page", per_page}};
      {
        const auto r = c->run("SELECT count(*) FROM files WHERE owner = $1", {user});
        out["total"] = r.rows() ? r.integer(0, 0) : 0;
      }
      const auto r = c->run(
          "SELECT id, name, language, size, updated_at FROM files WHERE owner = $1 "
          "ORDER BY updated_at DESC, id DESC LIMIT $2 OFFSET $3",
          {user, per_page, static_cast<std::int64_t>(page) * per_page});
      auto files = nlohmann::json::array();
      for (int i = 0; i < r.rows(); ++i) {
        files.push_back({{"id", r.integer(i, 0)},
                         {"name", r.text(i, 1)},
                         {"language", r.text(i, 2)},
                         {"size", r.integer(i, 3)},
                         {"updated_at", r.integer(i, 4)}});
      }
      out["files"] = std::move(files);
      return out;
    });
  }

  nlohmann::json user_stats(std::int64_t user) override {
    return measured([&] {
      Lease c(*this);
      nlohmann::json out{{"user", user}};
      {
        // length(content) reads every document: the aggregation the seed ran per user.
        const auto r = c->run(
            "SELECT count(*), coalesce(sum(length(content)), 0), "
            "coalesce(max(updated_at), 0) FROM files WHERE owner = $1",
            {user});
        out["files"] = r.integer(0, 0);
        out["bytes"] = r.integer(0, 1);
        out["last_update"] = r.integer(0, 2);
      }
      const auto r = c->run(
          "SELECT language, count(*) FROM files WHERE owner = $1 GROUP BY language "
          "ORDER BY language COLLATE \"C\"",
          {user});
      auto languages = nlohmann::json::object();
      for (int i = 0; i < r.rows(); ++i) languages[r.text(i, 0)] = r.integer(i, 1);
      out["languages"] = std::move(languages);
      return out;
    });
  }

  nlohmann::json public_stats() override {
    return measured([&] {
      Lease c(*this);
      nlohmann::json out;
      {
        const auto r = c->run(
            "SELECT (SELECT count(*) FROM users), count(*), coalesce(sum(size), 0) FROM files", {});
        out["users"] = r.integer(0, 0);
        out["files"] = r.integer(0, 1);
        out["bytes"] = r.integer(0, 2);
      }
      {
        // COLLATE "C": ties in SQLite's (byte) order, whatever the database's locale.
        const auto r = c->run(
            "SELECT language, count(*) AS n FROM files GROUP BY language "
            "ORDER BY n DESC, language COLLATE \"C\"",
            {});
        auto languages = nlohmann::json::array();
        for (int i = 0; i < r.rows(); ++i) {
          languages.push_back({{"language", r.text(i, 0)}, {"files", r.integer(i, 1)}});
        }
        out["languages"] = std::move(languages);
      }
      const auto r = c->run(
          "SELECT owner, count(*) AS n FROM files GROUP BY owner "
          "ORDER BY n DESC, owner LIMIT 10",
          {});
      auto top = nlohmann::json::array();
      for (int i = 0; i < r.rows(); ++i) {
        top.push_back({{"user", r.integer(i, 0)}, {"files", r.integer(i, 1)}});
      }
      out["top_users"] = std::move(top);
      return out;
    });
  }

  nlohmann::json search(const std::string& query, int limit) override {
    return measured([&] {
      // Every word must match (plainto_tsquery: the user's words, never tsquery syntax).
      if (query.find_first_not_of(' ') == std::string::npos) {
        return nlohmann::json{{"query", query}, {"results", nlohmann::json::array()}};
      }
      Lease c(*this);
      const auto r = c->run(
          "SELECT id, name, owner FROM files, "
          "plainto_tsquery('simple', translate($1, '_.', '  ')) AS q WHERE search @@ q "
          "ORDER BY ts_rank(search, q) DESC, id LIMIT $2",
          {query, limit});
      auto results = nlohmann::json::array();
      for (int i = 0; i < r.rows(); ++i) {
        results.push_back(
            {{"id", r.integer(i, 0)}, {"name", r.text(i, 1)}, {"owner", r.integer(i, 2)}});
      }
      return nlohmann::json{{"query", query}, {"results", std::move(results)}};
    });
  }

  nlohmann::json bookmarks(std::int64_t user) override {
    return measured([&] {
      Lease c(*this);
      const auto r = c->run(
          "SELECT f.id, f.name, f.owner FROM bookmarks b JOIN files f ON f.id = b.file_id "
          "WHERE b.user_id = $1 ORDER BY b.created_at DESC, f.id",
          {user});
      auto files = nlohmann::json::array();
      for (int i = 0; i < r.rows(); ++i) {
        files.push_back(
            {{"id", r.integer(i, 0)}, {"name", r.text(i, 1)}, {"owner", r.integer(i, 2)}});
      }
      return nlohmann::json{{"user", user}, {"files", std::move(files)}};
    });
  }

  std::optional<std::int64_t> file_version(std::int64_t id) override {
    Lease c(*this);
    const auto r = c->run("SELECT version FROM files WHERE id = $1", {id});
    if (r.rows() == 0) return std::nullopt;
    return r.integer(0, 0);
  }

  nlohmann::json create_file(std::int64_t owner, const std::string& name,
                             const std::string& language, const std::string& content) override {
    return measured([&] {
      Lease c(*this);
      Transaction t(*c, bulk_conn_ == nullptr);
      const std::int64_t at = next_update(*c);
      const auto r = c->run(
          "INSERT INTO files(owner, name, language, content, size, version, updated_at) "
          "VALUES($1, $2, $3, $4, $5, 1, $6) RETURNING " TTLCACHE_SERVICE_PG_FILE_COLUMNS,
          {owner, name, language, content, static_cast<std::int64_t>(content.size()), at});
      nlohmann::json out = file_row(r);
      t.commit();
      return out;
    });
  }

  std::optional<nlohmann::json> edit_file(std::int64_t id, const std::string& content) override {
    return measured([&]() -> std::optional<nlohmann::json> {
      Lease c(*this);
      Transaction t(*c, true);
      // The clock row first, as every write does: one lock order, no deadlock.
      const std::int64_t at = next_update(*c);
      std::optional<nlohmann::json> out;
      {
        const auto r = c->run(
            "UPDATE files SET content = $1, size = $2, version = version + 1, updated_at = $3 "
            "WHERE id = $4 RETURNING " TTLCACHE_SERVICE_PG_FILE_COLUMNS,
            {content, static_cast<std::int64_t>(content.size()), at, id});
        if (r.rows() > 0) out = file_row(r);
      }
      t.commit();
      return out;
    });
  }

  std::optional<std::int64_t> delete_file(std::int64_t id) override {
    return measured([&]() -> std::optional<std::int64_t> {
      Lease c(*this);
      Transaction t(*c, true);
      std::optional<std::int64_t> owner;
      {
        const auto r = c->run("DELETE FROM files WHERE id = $1 RETURNING owner", {id});
        if (r.rows() > 0) owner = r.integer(0, 0);
      }
      if (owner) c->run("DELETE FROM bookmarks WHERE file_id = $1", {id});
      t.commit();
      return owner;
    });
  }

  // The generator's batches: one statement each (arrays unnested in order), so that loading
  // thousands of rows costs a few round trips, not thousands.
  void create_files(const std::vector<NewFile>& files) override {
    if (files.empty()) return;
    measured([&] {
      Lease c(*this);
      Transaction t(*c, bulk_conn_ == nullptr);
      const auto n = static_cast<std::int64_t>(files.size());
      // The update times file() would have given them one by one.
      const auto r =
          c->run("UPDATE update_clock SET value = value + $1 RETURNING value - $1 + 1", {n});
      const std::int64_t first = r.integer(0, 0);
      std::vector<std::int64_t> owners, sizes, times;
      std::vector<std::string> names, langs, contents;
      for (std::size_t i = 0; i < files.size(); ++i) {
        owners.push_back(files[i].owner);
        names.push_back(files[i].name);
        langs.push_back(files[i].language);
        contents.push_back(files[i].content);
        sizes.push_back(static_cast<std::int64_t>(files[i].content.size()));
        times.push_back(first + static_cast<std::int64_t>(i));
      }
      c->run(
          "INSERT INTO files(owner, name, language, content, size, version, updated_at) "
          "SELECT o, n, l, c, s, 1, u FROM unnest($1::bigint[], $2::text[], $3::text[], "
          "$4::text[], $5::bigint[], $6::bigint[]) WITH ORDINALITY AS t(o, n, l, c, s, u, i) "
          "ORDER BY i",
          {array(owners), array(names), array(langs), array(contents), array(sizes), array(times)});
      t.commit();
    });
  }

  void add_bookmarks(const std::vector<NewBookmark>& bookmarks) override {
    if (bookmarks.empty()) return;
    std::vector<std::int64_t> users, files, times;
    for (const auto& b : bookmarks) {
      users.push_back(b.user);
      files.push_back(b.file);
      times.push_back(b.at);
    }
    Lease c(*this);
    // In order: of two equal bookmarks the first stays, as with one add_bookmark() each.
    c->run(
        "INSERT INTO bookmarks(user_id, file_id, created_at) SELECT u, f, a FROM "
        "unnest($1::bigint[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS t(u, f, a, i) "
        "ORDER BY i ON CONFLICT DO NOTHING",
        {array(users), array(files), array(times)});
  }

  void add_bookmark(std::int64_t user, std::int64_t file, std::int64_t at) override {
    Lease c(*this);
    c->run(
        "INSERT INTO bookmarks(user_id, file_id, created_at) VALUES($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        {user, file, at});
  }

  void add_user(std::int64_t id, const std::string& name) override {
    Lease c(*this);
    c->run(
        "INSERT INTO users(id, name) VALUES($1, $2) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        {id, name});
  }

  // The data generator's rows go through one connection in one transaction. Called before
  // serving, from one thread.
  void begin_bulk() override {
    bulk_ = std::make_unique<Lease>(*this);
    bulk_conn_ = &**bulk_;
    bulk_conn_->exec("BEGIN");
  }
  void end_bulk() override {
    // After a failed statement COMMIT rolls back (the generator rethrows the first error).
    bulk_conn_->exec("COMMIT");
    bulk_conn_ = nullptr;
    bulk_.reset();
  }

 private:
  /// A pooled connection for one call (the bulk connection while bulk loading); a connection
  /// the server dropped is reconnected before it goes back to the pool.
  class Lease {
   public:
    explicit Lease(PostgresDatabase& db) : db_(db) {
      if (db.bulk_conn_) {
        c_ = db.bulk_conn_;
        return;
      }
      std::unique_lock<std::mutex> lock(db.mutex_);
      db.available_.wait(lock, [&] { return !db.idle_.empty(); });
      c_ = db.idle_.back();
      db.idle_.pop_back();
      owned_ = true;
    }
    ~Lease() {
      if (!owned_) return;
      c_->repair();
      {
        std::lock_guard<std::mutex> lock(db_.mutex_);
        db_.idle_.push_back(c_);
      }
      db_.available_.notify_one();
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() const noexcept { return *c_; }
    Connection* operator->() const noexcept { return c_; }

   private:
    PostgresDatabase& db_;
    Connection* c_ = nullptr;
    bool owned_ = false;
  };

  /// BEGIN .. COMMIT, rolled back when an exception leaves the scope.
  class Transaction {
   public:
    Transaction(Connection& c, bool active) : c_(c), active_(active) {
      if (active_) c_.exec("BEGIN");
    }
    ~Transaction() {
      if (!active_) return;
      try {
        c_.exec("ROLLBACK");
      } catch (...) {  // the connection is gone: the server rolled back already
      }
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit() {
      if (!active_) return;
      c_.exec("COMMIT");
      active_ = false;
    }

   private:
    Connection& c_;
    bool active_;
  };

  /// The first row of TTLCACHE_SERVICE_PG_FILE_COLUMNS as file() answers it.
  static nlohmann::json file_row(const Result& r) {
    return nlohmann::json{{"id", r.integer(0, 0)},         {"owner", r.integer(0, 1)},
                          {"name", r.text(0, 2)},          {"language", r.text(0, 3)},
                          {"size", r.integer(0, 4)},       {"version", r.integer(0, 5)},
                          {"updated_at", r.integer(0, 6)}, {"content", r.text(0, 7)}};
  }

  /// The next update time; the row stays locked until the caller's transaction ends, so the
  /// times are in commit order across connections and processes.
  static std::int64_t next_update(Connection& c) {
    const auto r = c.run("UPDATE update_clock SET value = value + 1 RETURNING value", {});
    if (r.rows() == 0) throw std::runtime_error("postgres: update_clock is empty");
    return r.integer(0, 0);
  }

  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> all_;
  std::vector<Connection*> idle_;
  std::unique_ptr<Lease> bulk_;
  Connection* bulk_conn_ = nullptr;
};

/// A connection for one administrative statement.
void admin(const std::string& conninfo, const std::string& sql) {
  PGconn* c = connect(conninfo);
  try {
    const Result checked(c, PQexec(c, sql.c_str()), sql.c_str());
  } catch (...) {
    PQfinish(c);
    throw;
  }
  PQfinish(c);
}

void check_identifier(const std::string& name) {
  const bool plain =
      !name.empty() && name.size() < 64 &&
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
  if (!plain) throw std::invalid_argument("postgres: not a plain database name: '" + name + "'");
}

/// A value in a key=value connection string: quoted, with \ and ' escaped.
std::string quoted(const char* v) {
  std::string out = "'";
  for (const char* p = v; *p; ++p) {
    if (*p == '\\' || *p == '\'') out += '\\';
    out += *p;
  }
  return out + "'";
}

}  // namespace

std::unique_ptr<Database> open_postgres(const std::string& conninfo, int connections, bool fresh) {
  return std::make_unique<PostgresDatabase>(conninfo, connections, fresh);
}

std::string postgres_with_database(const std::string& conninfo, const std::string& dbname) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    // libpq's reason may quote the string (and a password in it): not repeated here.
    PQfreemem(error);
    throw std::runtime_error(
        "postgres: cannot parse the connection string (expected postgresql://... or "
        "key=value pairs)");
  }
  std::string out = "dbname=" + quoted(dbname.c_str());
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || std::string(o->keyword) == "dbname") continue;
    out += ' ';
    out += o->keyword;
    out += '=';
    out += quoted(o->val);
  }
  PQconninfoFree(options);
  return out;
}

void postgres_create_database(const std::string& conninfo, const std::string& name) {
  check_identifier(name);
  admin(conninfo, "CREATE DATABASE " + name);
}

void postgres_drop_database(const std::string& conninfo, const std::string& name) {
  check_identifier(name);
  admin(conninfo, "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
}

}  // namespace service

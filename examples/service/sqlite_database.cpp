// SQLite implementation of the service's Database: prepared statements per pooled connection.
// SPDX-License-Identifier: MIT
#include "sqlite_database.hpp"

#include <sqlite3.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace service {
namespace {

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw std::runtime_error("sqlite: " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

/// One connection and its prepared statements (prepared once, reset after each use).
class Connection {
 public:
  explicit Connection(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      const std::string reason = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error("sqlite: cannot open " + path + ": " + reason);
    }
    // The one writer waits for another instead of failing at once.
    sqlite3_busy_timeout(db_, 10'000);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
  }
  ~Connection() {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string reason = err ? err : "unknown error";
      sqlite3_free(err);
      throw std::runtime_error(std::string("sqlite: ") + sql + ": " + reason);
    }
  }
  sqlite3_stmt* statement(const char* sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      fail(db_, std::string("prepare ") + sql);
    }
    statements_.emplace(sql, stmt);
    return stmt;
  }
  sqlite3* handle() const noexcept { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::map<const char*, sqlite3_stmt*> statements_;  // keyed by the literal's address
};

/// A statement in use: binds, steps, reads columns, and resets itself when done.
class Query {
 public:
  Query(Connection& c, const char* sql) : db_(c.handle()), stmt_(c.statement(sql)), sql_(sql) {}
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int i, std::int64_t v) {
    check(sqlite3_bind_int64(stmt_, i, v));
    return *this;
  }
  Query& bind(int i, const std::string& v) {
    check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  /// true while there is a row.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, sql_);
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }

 private:
  void check(int rc) const {
    if (rc != SQLITE_OK) fail(db_, std::string("bind ") + sql_);
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  const char* sql_;
};

// The columns of a file, in the order file_row() reads them.
#define TTLCACHE_SERVICE_FILE_COLUMNS \
  "id, owner, name, language, size, version, updated_at, content"

// AUTOINCREMENT: a deleted file's id is never reused (the stale-read checker relies on it).
constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS users(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
  id INTEGER PRIMARY KEY AUTOINCREMENT, owner INTEGER NOT NULL, name TEXT NOT NULL,
  language TEXT NOT NULL, content TEXT NOT NULL, size INTEGER NOT NULL, version INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS files_by_owner ON files(owner, updated_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS bookmarks(
  user INTEGER NOT NULL, file INTEGER NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY(user, file));
CREATE INDEX IF NOT EXISTS bookmarks_by_file ON bookmarks(file);
CREATE VIRTUAL TABLE IF NOT EXISTS files_fts USING fts5(name, content);
-- Update times are a sequence, not the wall clock, so that two runs with the same seed answer
-- read-only requests with the same bytes; a table, so that instances sharing the file share it.
CREATE TABLE IF NOT EXISTS update_clock(value INTEGER NOT NULL);
INSERT INTO update_clock SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM update_clock);
)sql";

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(const std::string& path, int connections) {
    if (connections < 1) throw std::invalid_argument("sqlite: connections must be at least 1");
    for (int i = 0; i < connections; ++i) {
      all_.push_back(std::make_unique<Connection>(path));
      if (i == 0) all_.front()->exec(schema);
      idle_.push_back(all_.back().get());
    }
  }

  std::optional<nlohmann::json> file(std::int64_t id) override {
    return measured([&]() -> std::optional<nlohmann::json> {
      Lease c(*this);
      Query q(*c, "SELECT " TTLCACHE_SERVICE_FILE_COLUMNS " FROM files WHERE id = ?");
      q.bind(1, id);
      if (!q.step()) return std::nullopt;
      return file_row(q);
    });
  }

  nlohmann::json file_list(std::int64_t user, int page, int per_page) override {
    return measured([&] {
      Lease c(*this);
      nlohmann::json out{{"user", user}, {"page", page}, {"per_page", per_page}};
      {
        Query q(*c, "SELECT count(*) FROM files WHERE owner = ?");
        q.bind(1, user);
        out["total"] = q.step() ? q.integer(0) : 0;
      }
      Query q(*c,
              "SELECT id, name, language, size, updated_at FROM files WHERE owner = ? "
              "ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?");
      q.bind(1, user).bind(2, per_page).bind(3, static_cast<std::int64_t>(page) * per_page);
      auto files = nlohmann::json::array();
      while (q.step()) {
        files.push_back({{"id", q.integer(0)},
                         {"name", q.text(1)},
                         {"language", q.text(2)},
                         {"size", q.integer(3)},
                         {"updated_at", q.integer(4)}});
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
        // length(content) reads every blob: the aggregation the seed ran per user.
        Query q(*c,
                "SELECT count(*), coalesce(sum(length(content)), 0), "
                "coalesce(max(updated_at), 0) FROM files WHERE owner = ?");
        q.bind(1, user);
        q.step();
        out["files"] = q.integer(0);
        out["bytes"] = q.integer(1);
        out["last_update"] = q.integer(2);
      }
      Query q(*c,
              "SELECT language, count(*) FROM files WHERE owner = ? GROUP BY language "
              "ORDER BY language");
      q.bind(1, user);
      auto languages = nlohmann::json::object();
      while (q.step()) languages[q.text(0)] = q.integer(1);
      out["languages"] = std::move(languages);
      return out;
    });
  }

  nlohmann::json public_stats() override {
    return measured([&] {
      Lease c(*this);
      nlohmann::json out;
      {
        Query q(*c,
                "SELECT (SELECT count(*) FROM users), count(*), coalesce(sum(size), 0) "
                "FROM files");
        q.step();
        out["users"] = q.integer(0);
        out["files"] = q.integer(1);
        out["bytes"] = q.integer(2);
      }
      {
        Query q(*c,
                "SELECT language, count(*) AS n FROM files GROUP BY language "
                "ORDER BY n DESC, language");
        auto languages = nlohmann::json::array();
        while (q.step()) languages.push_back({{"language", q.text(0)}, {"files", q.integer(1)}});
        out["languages"] = std::move(languages);
      }
      Query q(*c,
              "SELECT owner, count(*) AS n FROM files GROUP BY owner "
              "ORDER BY n DESC, owner LIMIT 10");
      auto top = nlohmann::json::array();
      while (q.step()) top.push_back({{"user", q.integer(0)}, {"files", q.integer(1)}});
      out["top_users"] = std::move(top);
      return out;
    });
  }

  nlohmann::json search(const std::string& query, int limit) override {
    return measured([&] {
      Lease c(*this);
      // Each word as an FTS5 string (implicit AND): the user's words, never FTS5 syntax.
      std::string match;
      std::string word;
      const auto flush = [&] {
        if (word.empty()) return;
        if (!match.empty()) match += ' ';
        match += '"';
        for (char ch : word) match += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        match += '"';
        word.clear();
      };
      for (char ch : query) {
        if (ch == ' ') {
          flush();
        } else {
          word += ch;
        }
      }
      flush();
      if (match.empty()) {
        return nlohmann::json{{"query", query}, {"results", nlohmann::json::array()}};
      }
      Query q(*c,
              "SELECT f.id, f.name, f.owner FROM files_fts JOIN files f ON f.id = "
              "files_fts.rowid WHERE files_fts MATCH ? ORDER BY rank, f.id LIMIT ?");
      q.bind(1, match).bind(2, limit);
      auto results = nlohmann::json::array();
      while (q.step()) {
        results.push_back({{"id", q.integer(0)}, {"name", q.text(1)}, {"owner", q.integer(2)}});
      }
      return nlohmann::json{{"query", query}, {"results", std::move(results)}};
    });
  }

  nlohmann::json bookmarks(std::int64_t user) override {
    return measured([&] {
      Lease c(*this);
      Query q(*c,
              "SELECT f.id, f.name, f.owner FROM bookmarks b JOIN files f ON f.id = b.file "
              "WHERE b.user = ? ORDER BY b.created_at DESC, f.id");
      q.bind(1, user);
      auto files = nlohmann::json::array();
      while (q.step()) {
        files.push_back({{"id", q.integer(0)}, {"name", q.text(1)}, {"owner", q.integer(2)}});
      }
      return nlohmann::json{{"user", user}, {"files", std::move(files)}};
    });
  }

  std::optional<std::vector<std::int64_t>> bookmarked_by(std::int64_t file) override {
    return measured([&] {
      Lease c(*this);
      Query q(*c, "SELECT user FROM bookmarks WHERE file = ? ORDER BY user");
      q.bind(1, file);
      std::vector<std::int64_t> users;
      while (q.step()) users.push_back(q.integer(0));
      return std::optional<std::vector<std::int64_t>>(std::move(users));
    });
  }

  std::optional<std::int64_t> file_version(std::int64_t id) override {
    Lease c(*this);
    Query q(*c, "SELECT version FROM files WHERE id = ?");
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    return q.integer(0);
  }

  nlohmann::json create_file(std::int64_t owner, const std::string& name,
                             const std::string& language, const std::string& content) override {
    return measured([&] {
      Lease c(*this);
      Transaction t(*c, bulk_conn_ == nullptr);
      nlohmann::json out;
      {
        Query q(*c,
                "INSERT INTO files(owner, name, language, content, size, version, "
                "updated_at) VALUES(?, ?, ?, ?, ?, 1, ?) RETURNING " TTLCACHE_SERVICE_FILE_COLUMNS);
        q.bind(1, owner).bind(2, name).bind(3, language).bind(4, content);
        q.bind(5, static_cast<std::int64_t>(content.size())).bind(6, next_update(*c));
        if (!q.step()) fail((*c).handle(), "insert file");
        out = file_row(q);
      }
      Query q(*c, "INSERT INTO files_fts(rowid, name, content) VALUES(?, ?, ?)");
      q.bind(1, out["id"].get<std::int64_t>()).bind(2, name).bind(3, content);
      q.step();
      t.commit();
      return out;
    });
  }

  std::optional<nlohmann::json> edit_file(std::int64_t id, const std::string& content) override {
    return measured([&]() -> std::optional<nlohmann::json> {
      Lease c(*this);
      Transaction t(*c, true);
      std::optional<nlohmann::json> out;
      {
        Query q(*c,
                "UPDATE files SET content = ?, size = ?, version = version + 1, "
                "updated_at = ? WHERE id = ? RETURNING " TTLCACHE_SERVICE_FILE_COLUMNS);
        q.bind(1, content).bind(2, static_cast<std::int64_t>(content.size()));
        q.bind(3, next_update(*c)).bind(4, id);
        if (q.step()) out = file_row(q);
      }
      if (out) {
        Query q(*c, "UPDATE files_fts SET content = ? WHERE rowid = ?");
        q.bind(1, content).bind(2, id);
        q.step();
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
        Query q(*c, "DELETE FROM files WHERE id = ? RETURNING owner");
        q.bind(1, id);
        if (q.step()) owner = q.integer(0);
      }
      if (owner) {
        Query(*c, "DELETE FROM files_fts WHERE rowid = ?").bind(1, id).step();
        Query(*c, "DELETE FROM bookmarks WHERE file = ?").bind(1, id).step();
      }
      t.commit();
      return owner;
    });
  }

  void add_bookmark(std::int64_t user, std::int64_t file, std::int64_t at) override {
    Lease c(*this);
    Query q(*c, "INSERT OR IGNORE INTO bookmarks(user, file, created_at) VALUES(?, ?, ?)");
    q.bind(1, user).bind(2, file).bind(3, at);
    q.step();
  }

  void add_user(std::int64_t id, const std::string& name) override {
    Lease c(*this);
    Query q(*c, "INSERT OR REPLACE INTO users(id, name) VALUES(?, ?)");
    q.bind(1, id).bind(2, name);
    q.step();
  }

  // The data generator's rows go through one connection in one transaction: seconds, not
  // minutes, for thousands of files. Called before serving, from one thread.
  void begin_bulk() override {
    bulk_ = std::make_unique<Lease>(*this);
    bulk_conn_ = &**bulk_;
    bulk_conn_->exec("BEGIN IMMEDIATE");
  }
  void end_bulk() override {
    bulk_conn_->exec("COMMIT");
    bulk_conn_ = nullptr;
    bulk_.reset();
  }

 private:
  /// A pooled connection for one call (the bulk connection while bulk loading).
  class Lease {
   public:
    explicit Lease(SqliteDatabase& db) : db_(db) {
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
      {
        std::lock_guard<std::mutex> lock(db_.mutex_);
        db_.idle_.push_back(c_);
      }
      db_.available_.notify_one();
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() const noexcept { return *c_; }

   private:
    SqliteDatabase& db_;
    Connection* c_ = nullptr;
    bool owned_ = false;
  };

  /// BEGIN IMMEDIATE .. COMMIT, rolled back when an exception leaves the scope.
  class Transaction {
   public:
    Transaction(Connection& c, bool active) : c_(c), active_(active) {
      if (active_) c_.exec("BEGIN IMMEDIATE");
    }
    ~Transaction() {
      if (!active_) return;
      try {
        c_.exec("ROLLBACK");
      } catch (...) {  // the connection is already outside a transaction
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

  /// A row of TTLCACHE_SERVICE_FILE_COLUMNS as file() answers it.
  static nlohmann::json file_row(const Query& q) {
    return nlohmann::json{{"id", q.integer(0)},         {"owner", q.integer(1)},
                          {"name", q.text(2)},          {"language", q.text(3)},
                          {"size", q.integer(4)},       {"version", q.integer(5)},
                          {"updated_at", q.integer(6)}, {"content", q.text(7)}};
  }

  /// The next update time; inside the caller's write transaction, so it is atomic across
  /// connections and processes.
  static std::int64_t next_update(Connection& c) {
    Query q(c, "UPDATE update_clock SET value = value + 1 RETURNING value");
    if (!q.step()) fail(c.handle(), "update_clock is empty");
    return q.integer(0);
  }

  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> all_;
  std::vector<Connection*> idle_;
  std::unique_ptr<Lease> bulk_;
  Connection* bulk_conn_ = nullptr;
};

}  // namespace

std::unique_ptr<Database> open_sqlite(const std::string& path, int connections) {
  return std::make_unique<SqliteDatabase>(path, connections);
}

}  // namespace service

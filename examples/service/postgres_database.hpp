// The service's server database: PostgreSQL 15 over libpq, a bounded pool of connections.
// SPDX-License-Identifier: MIT
#pragma once

#include <memory>
#include <string>

#include "database.hpp"

namespace service {

/// Connects `connections` times (each serves one request at a time: libpq connections are not
/// thread-safe) with a libpq connection string (`postgresql://user@127.0.0.1:5432/db` or
/// `host=... port=... dbname=...`; empty: libpq's environment defaults). Creates the schema
/// when missing; `fresh` first drops the service's tables (users, files, bookmarks,
/// update_clock), so that the data generator starts from ids 1.. again. Search is
/// PostgreSQL's own full-text search: a stored `tsvector` ('simple' configuration) with a GIN
/// index, ranked by ts_rank.
///
/// Throws std::runtime_error with the server's message and the database's host, port and name
/// (never the connection string: it may hold a password).
std::unique_ptr<Database> open_postgres(const std::string& conninfo, int connections, bool fresh);

/// The same connection string with another database name (key=value form). Throws
/// std::runtime_error when libpq cannot parse it.
std::string postgres_with_database(const std::string& conninfo, const std::string& dbname);

/// CREATE DATABASE / DROP DATABASE ... WITH (FORCE) through `conninfo`'s database: a scratch
/// database per run, so that runs (and parallel tests) never share tables. `name` must be a
/// plain identifier ([a-z0-9_]); std::invalid_argument otherwise, std::runtime_error with the
/// server's message when the server refuses.
void postgres_create_database(const std::string& conninfo, const std::string& name);
void postgres_drop_database(const std::string& conninfo, const std::string& name);

}  // namespace service

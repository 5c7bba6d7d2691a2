// The service's embedded database: SQLite in WAL mode, FTS5 for search, a pool of connections.
// SPDX-License-Identifier: MIT
#pragma once

#include <memory>
#include <string>

#include "database.hpp"

namespace service {

/// Opens (creating the schema of) a SQLite database file; `connections` of them serve
/// concurrent queries (WAL: readers never wait for the one writer). Throws std::runtime_error
/// naming the path and SQLite's reason.
std::unique_ptr<Database> open_sqlite(const std::string& path, int connections);

}  // namespace service

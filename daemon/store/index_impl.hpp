// The state behind Index, shared by the .cpp files that implement its table groups.
#pragma once

#include "daemon/store/index.hpp"
#include "daemon/store/sqlite.hpp"

#include <filesystem>
#include <mutex>

namespace timmd::store {

// The connection and its lock. A namespace-level type, so that helpers outside Index can take
// it while Index::Impl stays private.
struct IndexConnection {
  std::filesystem::path file;
  sqlite::Connection db;
  // Serialises every use of `db`, which is opened with SQLITE_OPEN_NOMUTEX.
  std::mutex mutex;

  proto::Result<sqlite::Statement> prepare(std::string_view step, std::string_view sql) {
    return sqlite::Statement::prepare(db.get(), step, sql);
  }
};

struct Index::Impl : IndexConnection {};

// Returns the row id of `repo` in table repos, inserting it when new. REQUIRES: mutex held.
proto::Result<std::int64_t> upsert_repo(IndexConnection& connection, std::string_view repo);

} // namespace timmd::store

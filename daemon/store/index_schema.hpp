// Identification and migration of the index schema. Private to the store.
#pragma once

#include "proto/error.hpp"

#include <sqlite3.h>

#include <filesystem>

namespace timmd::store {

// Returns the schema version of `db` (0 for a new, empty database) after checking that it is a
// timmd index no newer than this build. Reads only, so a foreign file is left untouched.
// `file` is used in error messages.
proto::Result<int> read_schema_version(sqlite3* db, const std::filesystem::path& file);

// Applies the migrations after `version`, each in its own transaction.
proto::Result<void> migrate_schema(sqlite3* db, int version);

} // namespace timmd::store

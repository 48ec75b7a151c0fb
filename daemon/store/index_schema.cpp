#include "daemon/store/index_schema.hpp"

#include "daemon/store/index.hpp"
#include "daemon/store/sqlite.hpp"

#include <array>
#include <string>

namespace timmd::store {
namespace {

// PRAGMA application_id of every timmd index ("TMMD" in ASCII). It distinguishes a timmd index
// from any other SQLite file, so that the daemon never migrates a database it did not create.
constexpr std::int64_t k_application_id = 0x544d4d44;

// Migration N (1-based) brings user_version from N - 1 to N. Append new migrations; never edit
// one that has shipped, because existing caches have already run it.
//
// downloads.chunks is a bitmap with one bit per chunk: chunk i is bit (i % 8), counting from the
// least significant bit, of byte i / 8. A shorter blob means the missing chunks are not done.
constexpr std::array k_migrations = {
  R"sql(
CREATE TABLE blobs (
  sha256      TEXT PRIMARY KEY NOT NULL,
  size        INTEGER NOT NULL CHECK (size >= 0),
  git_oid     TEXT,
  created     INTEGER NOT NULL,
  last_access INTEGER NOT NULL,
  pin_count   INTEGER NOT NULL DEFAULT 0 CHECK (pin_count >= 0)
) WITHOUT ROWID;
CREATE INDEX blobs_by_git_oid ON blobs (git_oid) WHERE git_oid IS NOT NULL;

CREATE TABLE repos (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE refs (
  repo_id    INTEGER NOT NULL REFERENCES repos (id),
  name       TEXT NOT NULL,
  commit_id  TEXT NOT NULL,
  fetched_at INTEGER NOT NULL,
  PRIMARY KEY (repo_id, name)
) WITHOUT ROWID;

-- One row per recorded file list, so that a commit with no files differs from an unknown one.
CREATE TABLE snapshots (
  repo_id     INTEGER NOT NULL REFERENCES repos (id),
  commit_id   TEXT NOT NULL,
  recorded_at INTEGER NOT NULL,
  PRIMARY KEY (repo_id, commit_id)
) WITHOUT ROWID;

CREATE TABLE files (
  repo_id     INTEGER NOT NULL,
  commit_id   TEXT NOT NULL,
  path        TEXT NOT NULL,
  size        INTEGER NOT NULL CHECK (size >= 0),
  etag        TEXT NOT NULL,
  is_lfs      INTEGER NOT NULL,
  blob_sha256 TEXT REFERENCES blobs (sha256),
  PRIMARY KEY (repo_id, commit_id, path),
  FOREIGN KEY (repo_id, commit_id) REFERENCES snapshots (repo_id, commit_id)
) WITHOUT ROWID;
CREATE INDEX files_by_blob ON files (blob_sha256) WHERE blob_sha256 IS NOT NULL;

CREATE TABLE downloads (
  key        TEXT PRIMARY KEY NOT NULL,
  size       INTEGER NOT NULL CHECK (size >= 0),
  chunk_size INTEGER NOT NULL CHECK (chunk_size > 0),
  chunks     BLOB NOT NULL,
  started    INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
  // Remapped checkpoints: a derived blob is keyed by its source blob and the hash of the filter
  // and rule set that produced it. The source may be evicted while the derived blob stays (a
  // client may hold only the latter), so only the derived blob's row owns the mapping.
  R"sql(
CREATE TABLE derived (
  source_sha256  TEXT NOT NULL,
  filter_sha256  TEXT NOT NULL,
  derived_sha256 TEXT NOT NULL REFERENCES blobs (sha256) ON DELETE CASCADE,
  created        INTEGER NOT NULL,
  PRIMARY KEY (source_sha256, filter_sha256)
) WITHOUT ROWID;
CREATE INDEX derived_by_blob ON derived (derived_sha256);
)sql",
  // `verify` records in lost_sha256 the blob a file row named before the blob was quarantined
  // or found missing, so that a later `verify --repair` knows which files to fetch again.
  // Linking the file to a blob clears it.
  R"sql(
ALTER TABLE files ADD COLUMN lost_sha256 TEXT;
CREATE INDEX files_lost ON files (lost_sha256) WHERE lost_sha256 IS NOT NULL;
)sql",
};

proto::Result<std::int64_t> read_integer(sqlite3* db, std::string_view step, std::string_view sql) {
  auto statement = sqlite::Statement::prepare(db, step, sql);
  if (!statement) {
    return statement.error();
  }
  auto row = statement->step();
  if (!row) {
    return row.error();
  }
  return *row ? statement->column_int(0) : 0;
}

proto::Result<void> apply_migration(sqlite3* db, int version) {
  const auto step = "migrate the index schema to version " + std::to_string(version);
  auto transaction = sqlite::Transaction::begin(db, step);
  if (!transaction) {
    return transaction.error();
  }

  if (auto applied = sqlite::execute(db, step, k_migrations[static_cast<std::size_t>(version - 1)]);
      !applied) {
    return applied.error();
  }

  // PRAGMA arguments cannot be bound parameters; both values are integers from this file.
  const auto stamp = "PRAGMA application_id = " + std::to_string(k_application_id) +
                     "; PRAGMA user_version = " + std::to_string(version);
  if (auto stamped = sqlite::execute(db, step, stamp.c_str()); !stamped) {
    return stamped.error();
  }
  return transaction->commit();
}

} // namespace

int Index::schema_version() { return static_cast<int>(k_migrations.size()); }

proto::Result<int> read_schema_version(sqlite3* db, const std::filesystem::path& file) {
  // The first read of the file header is where a file that is not SQLite at all shows up.
  auto application_id = read_integer(db, "read PRAGMA application_id", "PRAGMA application_id");
  if (!application_id) {
    if (application_id.error().details.value("sqlite_code", 0) == SQLITE_NOTADB) {
      return proto::make_error(proto::Errc::internal,
                               file.string() +
                                 " is not an SQLite database, so it cannot be the timmd index; "
                                 "move it away or point the daemon at another cache directory",
                               {{"path", file.string()}});
    }
    return application_id.error();
  }

  auto version = read_integer(db, "read PRAGMA user_version", "PRAGMA user_version");
  if (!version) {
    return version.error();
  }
  auto object_count =
    read_integer(db, "count schema objects", "SELECT count(*) FROM sqlite_schema");
  if (!object_count) {
    return object_count.error();
  }

  const bool is_empty = *application_id == 0 && *version == 0 && *object_count == 0;
  if (!is_empty && *application_id != k_application_id) {
    return proto::make_error(proto::Errc::internal,
                             file.string() + " is an SQLite database but not a timmd index "
                                             "(application_id " +
                               std::to_string(*application_id) +
                               "); move it away or point the daemon at another cache directory",
                             {{"path", file.string()}, {"application_id", *application_id}});
  }
  if (*version > Index::schema_version()) {
    return proto::make_error(proto::Errc::internal,
                             "the index " + file.string() + " has schema version " +
                               std::to_string(*version) + ", newer than version " +
                               std::to_string(Index::schema_version()) +
                               " of this timmd; upgrade timmd or point the daemon at another "
                               "cache directory",
                             {{"path", file.string()}, {"user_version", *version}});
  }
  return static_cast<int>(*version);
}

proto::Result<void> migrate_schema(sqlite3* db, int version) {
  for (auto next = version + 1; next <= Index::schema_version(); ++next) {
    if (auto migrated = apply_migration(db, next); !migrated) {
      return migrated.error();
    }
  }
  return {};
}

} // namespace timmd::store

#include "daemon/store/index.hpp"

#include "daemon/store/digest.hpp"
#include "daemon/store/index_impl.hpp"
#include "daemon/store/index_schema.hpp"

#include <spdlog/spdlog.h>

namespace timmd::store {
namespace {

// Long enough to ride out a checkpoint by a second connection (e.g. the sqlite3 shell an
// operator opened), short enough that a stuck lock surfaces as an error.
constexpr int k_busy_timeout_ms = 5000;

constexpr std::string_view k_blob_columns =
  "SELECT sha256, size, coalesce(git_oid, ''), created, last_access, pin_count FROM blobs ";

BlobRecord read_blob(const sqlite::Statement& statement) {
  return BlobRecord{
    .sha256 = statement.column_text(0),
    .size = statement.column_size(1),
    .git_oid = statement.column_text(2),
    .created = statement.column_int(3),
    .last_access = statement.column_int(4),
    .pin_count = statement.column_int(5),
  };
}

proto::Result<std::optional<BlobRecord>> find_one_blob(IndexConnection& connection,
                                                       std::string_view step,
                                                       std::string_view where,
                                                       std::string_view value) {
  auto statement = connection.prepare(step, std::string(k_blob_columns) + std::string(where));
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, value);

  auto row = statement->step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return std::optional<BlobRecord>();
  }
  return std::optional<BlobRecord>(read_blob(*statement));
}

// SQLite keeps the old journal mode when it cannot switch to WAL. The index still works then,
// but readers block writers, so this logs a warning.
void warn_unless_wal(sqlite3* db, const std::filesystem::path& file) {
  auto statement =
    sqlite::Statement::prepare(db, "read PRAGMA journal_mode", "PRAGMA journal_mode");
  if (!statement) {
    return;
  }
  const auto row = statement->step();
  if (!row || !*row) {
    return;
  }
  const auto mode = statement->column_text(0);
  if (mode != "wal") {
    spdlog::warn("index {} uses journal mode '{}' because WAL is unavailable there; move the "
                 "cache to a local filesystem for concurrent reads",
                 file.string(), mode);
  }
}

} // namespace

Index::Index(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Index::~Index() = default;

proto::Result<std::unique_ptr<Index>> Index::open(const std::filesystem::path& file) {
  auto impl = std::make_unique<Impl>();
  impl->file = file;

  sqlite3* raw = nullptr;
  const int code = sqlite3_open_v2(file.c_str(), &raw,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                   nullptr);
  impl->db.reset(raw);
  if (code != SQLITE_OK) {
    return sqlite::make_error(impl->db.get(), code, "open the index");
  }
  sqlite3_busy_timeout(impl->db.get(), k_busy_timeout_ms);

  // Identify the file before anything writes to it, because switching to WAL would already
  // modify a database that belongs to someone else.
  auto version = read_schema_version(impl->db.get(), file);
  if (!version) {
    return version.error();
  }

  // synchronous=NORMAL in WAL mode can lose the last commits on power loss but never corrupts
  // the database. Startup repair covers every such loss: a published blob without its row is
  // adopted, and a lost chunk mark only means that chunk is fetched again.
  if (auto configured = sqlite::execute(impl->db.get(), "configure the connection",
                                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                                        "PRAGMA foreign_keys = ON");
      !configured) {
    return configured.error();
  }
  warn_unless_wal(impl->db.get(), file);
  if (auto migrated = migrate_schema(impl->db.get(), *version); !migrated) {
    return migrated.error();
  }

  return std::unique_ptr<Index>(new Index(std::move(impl)));
}

proto::Result<void> Index::insert_blob(const BlobRecord& blob) {
  if (!is_sha256_hex(blob.sha256) || (!blob.git_oid.empty() && !is_sha1_hex(blob.git_oid))) {
    return proto::make_error(proto::Errc::invalid_request,
                             "invalid blob row: sha256 '" + blob.sha256 +
                               "' must be 64 and git_oid '" + blob.git_oid +
                               "' 40 lowercase hex digits (or empty)");
  }
  std::lock_guard lock(m_impl->mutex);

  // An existing row keeps its pin count and creation time; a known git_oid is never erased.
  auto statement = m_impl->prepare("insert blob", R"sql(
    INSERT INTO blobs (sha256, size, git_oid, created, last_access, pin_count)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)
    ON CONFLICT (sha256) DO UPDATE SET
      size = excluded.size,
      git_oid = coalesce(excluded.git_oid, blobs.git_oid),
      last_access = max(blobs.last_access, excluded.last_access))sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, blob.sha256)
    .bind_size(2, blob.size)
    .bind_text_or_null(3, blob.git_oid)
    .bind_int(4, blob.created)
    .bind_int(5, blob.last_access)
    .bind_int(6, blob.pin_count);
  return statement->run();
}

proto::Result<std::optional<BlobRecord>> Index::find_blob(std::string_view sha256) {
  std::lock_guard lock(m_impl->mutex);
  return find_one_blob(*m_impl, "find blob", "WHERE sha256 = ?1", sha256);
}

proto::Result<std::optional<BlobRecord>> Index::find_blob_by_git_oid(std::string_view git_oid) {
  std::lock_guard lock(m_impl->mutex);
  return find_one_blob(*m_impl, "find blob by git oid", "WHERE git_oid = ?1 LIMIT 1", git_oid);
}

proto::Result<void> Index::touch_blob(std::string_view sha256, std::int64_t now) {
  std::lock_guard lock(m_impl->mutex);
  auto statement =
    m_impl->prepare("touch blob", "UPDATE blobs SET last_access = ?2 WHERE sha256 = ?1");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, sha256).bind_int(2, now);
  if (auto updated = statement->run(); !updated) {
    return updated.error();
  }

  if (statement->changes() == 0) {
    return proto::make_error(proto::Errc::not_found,
                             "blob " + std::string(sha256) + " is not in the index",
                             {{"sha256", std::string(sha256)}});
  }
  return {};
}

proto::Result<std::vector<BlobRecord>> Index::all_blobs() {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("list blobs", std::string(k_blob_columns) + "ORDER BY sha256");
  if (!statement) {
    return statement.error();
  }

  std::vector<BlobRecord> blobs;
  for (;;) {
    auto row = statement->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return blobs;
    }
    blobs.push_back(read_blob(*statement));
  }
}

proto::Result<void> Index::delete_blob(std::string_view sha256) {
  std::lock_guard lock(m_impl->mutex);
  auto transaction = sqlite::Transaction::begin(m_impl->db.get(), "delete blob");
  if (!transaction) {
    return transaction.error();
  }

  auto clear_files = m_impl->prepare("delete blob: clear file rows",
                                     "UPDATE files SET blob_sha256 = NULL WHERE blob_sha256 = ?1");
  if (!clear_files) {
    return clear_files.error();
  }
  if (auto cleared = clear_files->bind_text(1, sha256).run(); !cleared) {
    return cleared.error();
  }

  auto delete_row = m_impl->prepare("delete blob row", "DELETE FROM blobs WHERE sha256 = ?1");
  if (!delete_row) {
    return delete_row.error();
  }
  if (auto deleted = delete_row->bind_text(1, sha256).run(); !deleted) {
    return deleted.error();
  }
  return transaction->commit();
}

} // namespace timmd::store

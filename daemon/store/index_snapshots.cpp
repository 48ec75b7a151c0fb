// Index methods for repositories, refs and the file lists of snapshots.
#include "daemon/store/index.hpp"

#include "daemon/store/digest.hpp"
#include "daemon/store/index_impl.hpp"

#include <chrono>
#include <map>
#include <utility>

namespace timmd::store {
namespace {

proto::Error invalid_commit(std::string_view commit) {
  return proto::make_error(proto::Errc::invalid_request,
                           "invalid commit '" + std::string(commit) +
                             "': expected 40 lowercase hex digits of a git commit id",
                           {{"commit", std::string(commit)}});
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

proto::Result<std::int64_t> upsert_repo(IndexConnection& connection, std::string_view repo) {
  // DO UPDATE rather than DO NOTHING so that RETURNING yields the id of an existing row too.
  auto statement = connection.prepare("record repository", R"sql(
    INSERT INTO repos (name) VALUES (?1)
    ON CONFLICT (name) DO UPDATE SET name = excluded.name
    RETURNING id)sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, repo);

  auto row = statement->step();
  if (!row) {
    return row.error();
  }
  const auto id = statement->column_int(0);
  if (auto finished = statement->run(); !finished) {
    return finished.error();
  }
  return id;
}

proto::Result<void> Index::record_ref(const RefRecord& ref) {
  if (ref.repo.empty() || ref.name.empty()) {
    return proto::make_error(proto::Errc::invalid_request,
                             "a ref needs a repository and a name, got '" + ref.repo + "' and '" +
                               ref.name + "'");
  }
  if (!is_sha1_hex(ref.commit)) {
    return invalid_commit(ref.commit);
  }
  std::lock_guard lock(m_impl->mutex);
  auto transaction = sqlite::Transaction::begin(m_impl->db.get(), "record ref");
  if (!transaction) {
    return transaction.error();
  }

  auto repo_id = upsert_repo(*m_impl, ref.repo);
  if (!repo_id) {
    return repo_id.error();
  }

  auto statement = m_impl->prepare("record ref", R"sql(
    INSERT INTO refs (repo_id, name, commit_id, fetched_at) VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT (repo_id, name) DO UPDATE SET
      commit_id = excluded.commit_id, fetched_at = excluded.fetched_at)sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_int(1, *repo_id)
    .bind_text(2, ref.name)
    .bind_text(3, ref.commit)
    .bind_int(4, ref.fetched_at);
  if (auto recorded = statement->run(); !recorded) {
    return recorded.error();
  }
  return transaction->commit();
}

proto::Result<std::optional<RefRecord>> Index::find_ref(std::string_view repo,
                                                         std::string_view name) {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("find ref", R"sql(
    SELECT refs.commit_id, refs.fetched_at FROM refs JOIN repos ON repos.id = refs.repo_id
    WHERE repos.name = ?1 AND refs.name = ?2)sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, repo).bind_text(2, name);

  auto row = statement->step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return std::optional<RefRecord>();
  }
  return std::optional<RefRecord>(RefRecord{
    .repo = std::string(repo),
    .name = std::string(name),
    .commit = statement->column_text(0),
    .fetched_at = statement->column_int(1),
  });
}

proto::Result<void> Index::record_files(std::string_view repo, std::string_view commit,
                                        const std::vector<FileRecord>& files) {
  if (!is_sha1_hex(commit)) {
    return invalid_commit(commit);
  }
  std::lock_guard lock(m_impl->mutex);
  auto transaction = sqlite::Transaction::begin(m_impl->db.get(), "record files");
  if (!transaction) {
    return transaction.error();
  }

  auto repo_id = upsert_repo(*m_impl, repo);
  if (!repo_id) {
    return repo_id.error();
  }

  auto snapshot = m_impl->prepare("record snapshot", R"sql(
    INSERT INTO snapshots (repo_id, commit_id, recorded_at) VALUES (?1, ?2, ?3)
    ON CONFLICT (repo_id, commit_id) DO UPDATE SET recorded_at = excluded.recorded_at)sql");
  if (!snapshot) {
    return snapshot.error();
  }
  snapshot->bind_int(1, *repo_id).bind_text(2, commit).bind_int(3, unix_now());
  if (auto recorded = snapshot->run(); !recorded) {
    return recorded.error();
  }

  auto clear = m_impl->prepare("record files: clear the old list",
                               "DELETE FROM files WHERE repo_id = ?1 AND commit_id = ?2");
  if (!clear) {
    return clear.error();
  }
  if (auto cleared = clear->bind_int(1, *repo_id).bind_text(2, commit).run(); !cleared) {
    return cleared.error();
  }

  for (const auto& file : files) {
    auto insert = m_impl->prepare("record file " + file.path, R"sql(
      INSERT INTO files (repo_id, commit_id, path, size, etag, is_lfs, blob_sha256)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7))sql");
    if (!insert) {
      return insert.error();
    }
    insert->bind_int(1, *repo_id)
      .bind_text(2, commit)
      .bind_text(3, file.path)
      .bind_size(4, file.size)
      .bind_text(5, file.etag)
      .bind_int(6, file.is_lfs ? 1 : 0)
      .bind_text_or_null(7, file.blob_sha256);
    if (auto inserted = insert->run(); !inserted) {
      return inserted.error();
    }
  }
  return transaction->commit();
}

proto::Result<std::optional<std::vector<FileRecord>>> Index::files_at(std::string_view repo,
                                                                      std::string_view commit) {
  std::lock_guard lock(m_impl->mutex);
  auto snapshot = m_impl->prepare("find snapshot", R"sql(
    SELECT 1 FROM snapshots JOIN repos ON repos.id = snapshots.repo_id
    WHERE repos.name = ?1 AND snapshots.commit_id = ?2)sql");
  if (!snapshot) {
    return snapshot.error();
  }
  auto found = snapshot->bind_text(1, repo).bind_text(2, commit).step();
  if (!found) {
    return found.error();
  }
  if (!*found) {
    return std::optional<std::vector<FileRecord>>();
  }

  auto statement = m_impl->prepare("list files", R"sql(
    SELECT path, size, etag, is_lfs, coalesce(blob_sha256, '')
    FROM files JOIN repos ON repos.id = files.repo_id
    WHERE repos.name = ?1 AND files.commit_id = ?2 ORDER BY path)sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, repo).bind_text(2, commit);

  std::vector<FileRecord> files;
  for (;;) {
    auto row = statement->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return std::optional(std::move(files));
    }
    files.push_back(FileRecord{
      .path = statement->column_text(0),
      .size = statement->column_size(1),
      .etag = statement->column_text(2),
      .is_lfs = statement->column_int(3) != 0,
      .blob_sha256 = statement->column_text(4),
    });
  }
}

proto::Result<void> Index::set_file_blob(std::string_view repo, std::string_view commit,
                                         std::string_view path, std::string_view blob_sha256) {
  std::lock_guard lock(m_impl->mutex);

  // The foreign key would reject a missing blob too, but with a message that names nothing.
  auto blob = m_impl->prepare("set file blob: find blob", "SELECT 1 FROM blobs WHERE sha256 = ?1");
  if (!blob) {
    return blob.error();
  }
  auto blob_found = blob->bind_text(1, blob_sha256).step();
  if (!blob_found) {
    return blob_found.error();
  }
  if (!*blob_found) {
    return proto::make_error(proto::Errc::invalid_request,
                             "cannot link file " + std::string(path) + " to blob " +
                               std::string(blob_sha256) +
                               " because the blob is not in the index; insert the blob row first",
                             {{"path", std::string(path)}, {"sha256", std::string(blob_sha256)}});
  }

  auto statement = m_impl->prepare("set file blob", R"sql(
    UPDATE files SET blob_sha256 = ?4, lost_sha256 = NULL
    WHERE repo_id = (SELECT id FROM repos WHERE name = ?1) AND commit_id = ?2 AND path = ?3)sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, repo).bind_text(2, commit).bind_text(3, path).bind_text(4, blob_sha256);
  if (auto updated = statement->run(); !updated) {
    return updated.error();
  }

  if (statement->changes() == 0) {
    return proto::make_error(proto::Errc::not_found,
                             "file " + std::string(path) + " of " + std::string(repo) + "@" +
                               std::string(commit) +
                               " is not in the index; record the file list first",
                             {{"repo", std::string(repo)},
                              {"commit", std::string(commit)},
                              {"path", std::string(path)}});
  }
  return {};
}

proto::Result<std::vector<SnapshotSummary>> Index::list_snapshots() {
  std::lock_guard lock(m_impl->mutex);

  std::map<std::pair<std::string, std::string>, std::vector<std::string>> refs_by_snapshot;
  auto refs = m_impl->prepare("list refs", R"sql(
    SELECT repos.name, refs.commit_id, refs.name FROM refs JOIN repos ON repos.id = refs.repo_id
    ORDER BY refs.name)sql");
  if (!refs) {
    return refs.error();
  }
  for (;;) {
    auto row = refs->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      break;
    }
    refs_by_snapshot[{refs->column_text(0), refs->column_text(1)}].push_back(
      refs->column_text(2));
  }

  auto statement = m_impl->prepare("list snapshots", R"sql(
    SELECT repos.name, snapshots.commit_id, count(files.path), count(files.blob_sha256),
           coalesce(sum(CASE WHEN files.blob_sha256 IS NOT NULL THEN files.size END), 0)
    FROM snapshots
    JOIN repos ON repos.id = snapshots.repo_id
    LEFT JOIN files ON files.repo_id = snapshots.repo_id AND files.commit_id = snapshots.commit_id
    GROUP BY snapshots.repo_id, snapshots.commit_id
    ORDER BY repos.name, snapshots.commit_id)sql");
  if (!statement) {
    return statement.error();
  }

  std::vector<SnapshotSummary> snapshots;
  for (;;) {
    auto row = statement->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return snapshots;
    }
    SnapshotSummary summary{
      .repo = statement->column_text(0),
      .commit = statement->column_text(1),
      .refs = {},
      .file_count = statement->column_size(2),
      .cached_file_count = statement->column_size(3),
      .cached_bytes = statement->column_size(4),
    };
    if (auto found = refs_by_snapshot.find({summary.repo, summary.commit});
        found != refs_by_snapshot.end()) {
      summary.refs = found->second;
    }
    snapshots.push_back(std::move(summary));
  }
}

} // namespace timmd::store

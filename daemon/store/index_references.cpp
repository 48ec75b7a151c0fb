// Index methods for integrity checks: which file rows name a blob, and the derived mappings.
#include "daemon/store/index_impl.hpp"

namespace timmd::store {
namespace {

// Reads every row of a statement whose first three columns are repository, commit and path.
proto::Result<std::vector<FileReference>> read_references(sqlite::Statement& statement) {
  std::vector<FileReference> references;
  for (;;) {
    auto row = statement.step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return references;
    }
    references.push_back({statement.column_text(0), statement.column_text(1), statement.column_text(2)});
  }
}

} // namespace

proto::Result<std::vector<FileReference>> Index::files_referencing(std::string_view sha256) {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("list the files of a blob", R"sql(
    SELECT r.name, f.commit_id, f.path FROM files f JOIN repos r ON r.id = f.repo_id
    WHERE f.blob_sha256 = ?1 ORDER BY r.name, f.commit_id, f.path)sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, sha256);
  return read_references(*statement);
}

proto::Result<std::vector<FileLink>> Index::file_links(std::string_view repo) {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("list file links", R"sql(
    SELECT r.name, f.commit_id, f.path, f.size, f.blob_sha256, b.sha256 IS NULL, coalesce(b.size, 0)
    FROM files f JOIN repos r ON r.id = f.repo_id LEFT JOIN blobs b ON b.sha256 = f.blob_sha256
    WHERE f.blob_sha256 IS NOT NULL AND (?1 = '' OR r.name = ?1)
    ORDER BY r.name, f.commit_id, f.path)sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, repo);

  std::vector<FileLink> links;
  for (;;) {
    auto row = statement->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return links;
    }
    FileLink link{
      .file = {statement->column_text(0), statement->column_text(1), statement->column_text(2)},
      .size = statement->column_size(3),
      .blob_sha256 = statement->column_text(4),
      .blob_size = std::nullopt,
    };
    if (statement->column_int(5) == 0) {
      link.blob_size = statement->column_size(6);
    }
    links.push_back(std::move(link));
  }
}

proto::Result<void> Index::clear_file_blob(const FileReference& file) {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("clear file blob", R"sql(
    UPDATE files SET lost_sha256 = blob_sha256, blob_sha256 = NULL
    WHERE repo_id = (SELECT id FROM repos WHERE name = ?1) AND commit_id = ?2 AND path = ?3
      AND blob_sha256 IS NOT NULL)sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, file.repo).bind_text(2, file.commit).bind_text(3, file.path);
  if (auto updated = statement->run(); !updated) {
    return updated.error();
  }

  if (statement->changes() == 0) {
    return proto::make_error(proto::Errc::not_found,
                             "file " + file.path + " of " + file.repo + "@" + file.commit + " is not in the index",
                             {{"repo", file.repo}, {"commit", file.commit}, {"path", file.path}});
  }
  return {};
}

proto::Result<std::size_t> Index::link_files_by_etag(std::string_view sha256, std::string_view git_oid) {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("link files by etag", R"sql(
    UPDATE files SET blob_sha256 = ?1, lost_sha256 = NULL
    WHERE blob_sha256 IS NULL AND (etag = ?1 OR (?2 <> '' AND etag = ?2)))sql");
  if (!statement) {
    return statement.error();
  }
  if (auto updated = statement->bind_text(1, sha256).bind_text(2, git_oid).run(); !updated) {
    return updated.error();
  }
  return static_cast<std::size_t>(statement->changes());
}

proto::Result<void> Index::delete_lost_blob(std::string_view sha256) {
  std::lock_guard lock(m_impl->mutex);
  auto transaction = sqlite::Transaction::begin(m_impl->db.get(), "delete lost blob");
  if (!transaction) {
    return transaction.error();
  }

  auto mark = m_impl->prepare("delete lost blob: mark file rows", R"sql(
    UPDATE files SET lost_sha256 = blob_sha256, blob_sha256 = NULL WHERE blob_sha256 = ?1)sql");
  if (!mark) {
    return mark.error();
  }
  if (auto marked = mark->bind_text(1, sha256).run(); !marked) {
    return marked.error();
  }

  auto delete_row = m_impl->prepare("delete lost blob row", "DELETE FROM blobs WHERE sha256 = ?1");
  if (!delete_row) {
    return delete_row.error();
  }
  if (auto deleted = delete_row->bind_text(1, sha256).run(); !deleted) {
    return deleted.error();
  }
  return transaction->commit();
}

proto::Result<std::vector<LostFile>> Index::lost_files(std::string_view repo) {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("list lost files", R"sql(
    SELECT r.name, f.commit_id, f.path, f.lost_sha256 FROM files f JOIN repos r ON r.id = f.repo_id
    WHERE f.lost_sha256 IS NOT NULL AND f.blob_sha256 IS NULL AND (?1 = '' OR r.name = ?1)
    ORDER BY f.lost_sha256, r.name, f.commit_id, f.path)sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, repo);

  std::vector<LostFile> lost;
  for (;;) {
    auto row = statement->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return lost;
    }
    lost.push_back({{statement->column_text(0), statement->column_text(1), statement->column_text(2)},
                    statement->column_text(3)});
  }
}

proto::Result<std::vector<DerivedRecord>> Index::all_derived() {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("list derived blobs", R"sql(
    SELECT source_sha256, filter_sha256, derived_sha256, created FROM derived
    ORDER BY derived_sha256, source_sha256, filter_sha256)sql");
  if (!statement) {
    return statement.error();
  }

  std::vector<DerivedRecord> derived;
  for (;;) {
    auto row = statement->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return derived;
    }
    derived.push_back(DerivedRecord{
      .source_sha256 = statement->column_text(0),
      .filter_sha256 = statement->column_text(1),
      .derived_sha256 = statement->column_text(2),
      .created = statement->column_int(3),
    });
  }
}

proto::Result<void> Index::delete_derived(std::string_view source_sha256, std::string_view filter_sha256) {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("delete derived mapping",
                                   "DELETE FROM derived WHERE source_sha256 = ?1 AND filter_sha256 = ?2");
  if (!statement) {
    return statement.error();
  }
  return statement->bind_text(1, source_sha256).bind_text(2, filter_sha256).run();
}

} // namespace timmd::store

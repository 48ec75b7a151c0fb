// Index methods for removing a repository's refs and snapshots.
#include "daemon/store/index_impl.hpp"

namespace timmd::store {

proto::Result<std::vector<RefRecord>> Index::refs_of(std::string_view repo) {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("list the refs of a repository", R"sql(
    SELECT refs.name, refs.commit_id, refs.fetched_at FROM refs JOIN repos ON repos.id = refs.repo_id
    WHERE repos.name = ?1 ORDER BY refs.name)sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, repo);

  std::vector<RefRecord> refs;
  for (;;) {
    auto row = statement->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return refs;
    }
    refs.push_back({std::string(repo), statement->column_text(0), statement->column_text(1), statement->column_int(2)});
  }
}

proto::Result<std::vector<std::string>> Index::commits_of(std::string_view repo) {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("list the snapshots of a repository", R"sql(
    SELECT snapshots.commit_id FROM snapshots JOIN repos ON repos.id = snapshots.repo_id
    WHERE repos.name = ?1 ORDER BY snapshots.commit_id)sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, repo);

  std::vector<std::string> commits;
  for (;;) {
    auto row = statement->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return commits;
    }
    commits.push_back(statement->column_text(0));
  }
}

proto::Result<void> Index::forget_snapshots(std::string_view repo, const std::vector<std::string>& ref_names,
                                            const std::vector<std::string>& commits) {
  std::lock_guard lock(m_impl->mutex);
  auto transaction = sqlite::Transaction::begin(m_impl->db.get(), "forget snapshots");
  if (!transaction) {
    return transaction.error();
  }

  for (const auto& name : ref_names) {
    auto statement = m_impl->prepare("forget ref " + name, R"sql(
      DELETE FROM refs WHERE repo_id = (SELECT id FROM repos WHERE name = ?1) AND name = ?2)sql");
    if (!statement) {
      return statement.error();
    }
    if (auto deleted = statement->bind_text(1, repo).bind_text(2, name).run(); !deleted) {
      return deleted.error();
    }
  }

  // File rows first: they reference their snapshot row.
  for (const auto& commit : commits) {
    for (const char* table : {"files", "snapshots"}) {
      auto statement = m_impl->prepare("forget " + std::string(table) + " of " + commit,
                                       "DELETE FROM " + std::string(table) +
                                         " WHERE repo_id = (SELECT id FROM repos WHERE name = ?1) AND commit_id = ?2");
      if (!statement) {
        return statement.error();
      }
      if (auto deleted = statement->bind_text(1, repo).bind_text(2, commit).run(); !deleted) {
        return deleted.error();
      }
    }
  }
  return transaction->commit();
}

} // namespace timmd::store

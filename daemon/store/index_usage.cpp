// Index methods for space management: which repositories use each blob, and pins.
#include "daemon/store/index_impl.hpp"

#include <sstream>

namespace timmd::store {

proto::Result<std::vector<BlobUsage>> Index::blob_usage() {
  std::lock_guard lock(m_impl->mutex);
  // A derived blob is used by the repositories of its source.
  auto statement = m_impl->prepare("list blob usage", R"sql(
    SELECT b.sha256, b.size, coalesce(b.git_oid, ''), b.created, b.last_access, b.pin_count,
           EXISTS (SELECT 1 FROM derived d WHERE d.derived_sha256 = b.sha256),
           coalesce((SELECT group_concat(name, ',') FROM (
                       SELECT DISTINCT r.name AS name FROM files f JOIN repos r ON r.id = f.repo_id
                       WHERE f.blob_sha256 = b.sha256
                          OR f.blob_sha256 IN (SELECT source_sha256 FROM derived WHERE derived_sha256 = b.sha256))),
                    '')
    FROM blobs b ORDER BY b.last_access, b.sha256)sql");
  if (!statement) {
    return statement.error();
  }
  std::vector<BlobUsage> usage;
  for (;;) {
    auto row = statement->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return usage;
    }
    BlobUsage blob;
    blob.blob = BlobRecord{statement->column_text(0), static_cast<std::uint64_t>(statement->column_int(1)),
                           statement->column_text(2),  statement->column_int(3),
                           statement->column_int(4),   statement->column_int(5)};
    blob.derived = statement->column_int(6) != 0;
    std::istringstream repos(statement->column_text(7));
    for (std::string repo; std::getline(repos, repo, ',');) {
      blob.repos.push_back(repo);
    }
    usage.push_back(std::move(blob));
  }
}

proto::Result<std::int64_t> Index::add_pins(std::string_view sha256, std::int64_t delta) {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("change pin count", R"sql(
    UPDATE blobs SET pin_count = max(pin_count + ?2, 0) WHERE sha256 = ?1 RETURNING pin_count)sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, sha256).bind_int(2, delta);
  auto row = statement->step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return proto::make_error(proto::Errc::not_found, "blob " + std::string(sha256) + " is not in the index");
  }
  const auto count = statement->column_int(0);
  if (auto done = statement->step(); !done) {
    return done.error();
  }
  return count;
}

} // namespace timmd::store

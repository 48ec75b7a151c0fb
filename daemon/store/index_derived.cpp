// Index methods for the `derived` table.
#include "daemon/store/index_impl.hpp"

namespace timmd::store {

proto::Result<void> Index::record_derived(const DerivedRecord& derived) {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("record derived blob", R"sql(
    INSERT INTO derived (source_sha256, filter_sha256, derived_sha256, created) VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT (source_sha256, filter_sha256) DO UPDATE SET derived_sha256 = excluded.derived_sha256,
                                                             created = excluded.created)sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, derived.source_sha256)
      .bind_text(2, derived.filter_sha256)
      .bind_text(3, derived.derived_sha256)
      .bind_int(4, derived.created);
  if (auto ran = statement->run(); !ran) {
    if (ran.error().message.find("FOREIGN KEY") != std::string::npos) {
      return proto::make_error(proto::Errc::invalid_request,
                               "record the derived blob " + derived.derived_sha256 + " of " + derived.source_sha256 +
                                   ": the derived blob must be recorded first");
    }
    return ran.error();
  }
  return {};
}

proto::Result<std::optional<DerivedRecord>> Index::find_derived(std::string_view source_sha256,
                                                                std::string_view filter_sha256) {
  std::lock_guard lock(m_impl->mutex);
  auto statement = m_impl->prepare("find derived blob", R"sql(
    SELECT derived_sha256, created FROM derived WHERE source_sha256 = ?1 AND filter_sha256 = ?2)sql");
  if (!statement) {
    return statement.error();
  }
  statement->bind_text(1, source_sha256).bind_text(2, filter_sha256);
  auto row = statement->step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return std::optional<DerivedRecord>();
  }
  return std::optional<DerivedRecord>(DerivedRecord{
      .source_sha256 = std::string(source_sha256),
      .filter_sha256 = std::string(filter_sha256),
      .derived_sha256 = statement->column_text(0),
      .created = statement->column_int(1),
  });
}

} // namespace timmd::store

#include "daemon/store/sqlite.hpp"

#include <limits>

namespace timmd::store::sqlite {

proto::Error make_error(sqlite3* db, int code, std::string_view step) {
  const char* file = db ? sqlite3_db_filename(db, "main") : nullptr;
  const std::string path = file ? file : "";
  const std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  const nlohmann::json details = {
    {"path", path}, {"step", std::string(step)}, {"sqlite_code", code}};

  if ((code & 0xff) == SQLITE_FULL) {
    return proto::make_error(proto::Errc::disk_full,
                             "the index " + path + " cannot grow during '" + std::string(step) +
                               "': " + message + "; free space on that filesystem",
                             details);
  }
  return proto::make_error(proto::Errc::internal,
                           "index " + path + " failed during '" + std::string(step) +
                             "': " + message + "; check the file's permissions and its disk",
                           details);
}

proto::Result<void> execute(sqlite3* db, std::string_view step, const char* sql) {
  const int code = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (code != SQLITE_OK) {
    return make_error(db, code, step);
  }
  return {};
}

proto::Result<Statement> Statement::prepare(sqlite3* db, std::string_view step,
                                            std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const int code =
    sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  Statement statement(db, std::string(step), raw);
  if (code != SQLITE_OK) {
    return make_error(db, code, step);
  }
  return statement;
}

Statement& Statement::check_bind(int code) {
  if (code != SQLITE_OK && m_bind_error == SQLITE_OK) {
    m_bind_error = code;
  }
  return *this;
}

Statement& Statement::bind_text(int index, std::string_view text) {
  return check_bind(sqlite3_bind_text64(m_statement.get(), index, text.data(), text.size(),
                                        SQLITE_TRANSIENT, SQLITE_UTF8));
}

Statement& Statement::bind_text_or_null(int index, std::string_view text) {
  if (text.empty()) {
    return check_bind(sqlite3_bind_null(m_statement.get(), index));
  }
  return bind_text(index, text);
}

Statement& Statement::bind_int(int index, std::int64_t value) {
  return check_bind(sqlite3_bind_int64(m_statement.get(), index, value));
}

Statement& Statement::bind_size(int index, std::uint64_t value) {
  if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return check_bind(SQLITE_RANGE);
  }
  return bind_int(index, static_cast<std::int64_t>(value));
}

Statement& Statement::bind_blob(int index, std::span<const std::byte> bytes) {
  // A zero-length blob from an empty span would have a null pointer, which SQLite stores as
  // NULL; zeroblob keeps it a blob.
  if (bytes.empty()) {
    return check_bind(sqlite3_bind_zeroblob(m_statement.get(), index, 0));
  }
  return check_bind(
    sqlite3_bind_blob64(m_statement.get(), index, bytes.data(), bytes.size(), SQLITE_TRANSIENT));
}

proto::Result<bool> Statement::step() {
  if (m_bind_error != SQLITE_OK) {
    return proto::make_error(proto::Errc::internal,
                             "binding a parameter for '" + m_step +
                               "' failed: " + sqlite3_errstr(m_bind_error),
                             {{"step", m_step}, {"sqlite_code", m_bind_error}});
  }

  const int code = sqlite3_step(m_statement.get());
  if (code == SQLITE_ROW) {
    return true;
  }
  if (code == SQLITE_DONE) {
    return false;
  }
  return make_error(m_db, code, m_step);
}

proto::Result<void> Statement::run() {
  for (;;) {
    auto stepped = step();
    if (!stepped) {
      return stepped.error();
    }
    if (!*stepped) {
      return {};
    }
  }
}

std::string Statement::column_text(int index) const {
  const auto* text = sqlite3_column_text(m_statement.get(), index);
  const auto length = sqlite3_column_bytes(m_statement.get(), index);
  if (!text) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(length));
}

std::int64_t Statement::column_int(int index) const {
  return sqlite3_column_int64(m_statement.get(), index);
}

std::uint64_t Statement::column_size(int index) const {
  const auto value = column_int(index);
  return value < 0 ? 0 : static_cast<std::uint64_t>(value);
}

std::vector<std::byte> Statement::column_blob(int index) const {
  const auto* data = static_cast<const std::byte*>(sqlite3_column_blob(m_statement.get(), index));
  const auto length = sqlite3_column_bytes(m_statement.get(), index);
  if (!data) {
    return {};
  }
  return std::vector<std::byte>(data, data + length);
}

proto::Result<Transaction> Transaction::begin(sqlite3* db, std::string_view step) {
  if (auto begun = execute(db, step, "BEGIN IMMEDIATE"); !begun) {
    return begun.error();
  }
  return Transaction(db, std::string(step));
}

Transaction::~Transaction() {
  if (m_db) {
    // A failed rollback leaves SQLite to roll back when the connection closes; nothing else
    // can be done in a destructor.
    sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

proto::Result<void> Transaction::commit() {
  auto committed = execute(m_db, m_step + " (commit)", "COMMIT");
  if (committed) {
    m_db = nullptr;
  }
  return committed;
}

} // namespace timmd::store::sqlite

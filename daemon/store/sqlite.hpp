// Thin RAII layer over the SQLite C API for the index: an owned connection, prepared statements
// and transactions whose failures come back as proto::Error naming the step that failed.
#pragma once

#include "proto/error.hpp"

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace timmd::store::sqlite {

struct ConnectionClose {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, ConnectionClose>;

// Builds the error for a failed call on `db`: SQLITE_FULL is `disk_full`, every other code is
// `internal`. The message names the step, the database file and sqlite3_errmsg().
proto::Error make_error(sqlite3* db, int code, std::string_view step);

// Runs SQL that returns no rows, possibly several statements separated by semicolons.
proto::Result<void> execute(sqlite3* db, std::string_view step, const char* sql);

// One prepared statement. Binding never fails on its own: the first bind error is kept and
// returned by the next step() or run(), so call sites can bind without checking each call.
class Statement {
public:
  static proto::Result<Statement> prepare(sqlite3* db, std::string_view step, std::string_view sql);

  Statement& bind_text(int index, std::string_view text);
  Statement& bind_text_or_null(int index, std::string_view text); // empty text binds NULL
  Statement& bind_int(int index, std::int64_t value);
  Statement& bind_size(int index, std::uint64_t value); // rejects values above INT64_MAX
  Statement& bind_blob(int index, std::span<const std::byte> bytes);

  // Advances to the next row: true when a row is ready, false when the statement is done.
  proto::Result<bool> step();
  // Steps until done; for statements that return no rows.
  proto::Result<void> run();

  // Column readers for the current row; index 0 is the first column. NULL reads as empty or 0.
  std::string column_text(int index) const;
  std::int64_t column_int(int index) const;
  std::uint64_t column_size(int index) const; // negative values read as 0
  std::vector<std::byte> column_blob(int index) const;

  // Rows changed by the last run() of this connection.
  int changes() const noexcept { return sqlite3_changes(m_db); }

private:
  struct Finalize {
    void operator()(sqlite3_stmt* statement) const noexcept { sqlite3_finalize(statement); }
  };

  Statement(sqlite3* db, std::string step, sqlite3_stmt* statement)
    : m_db(db), m_step(std::move(step)), m_statement(statement) {}

  Statement& check_bind(int code);

  sqlite3* m_db;
  std::string m_step;
  std::unique_ptr<sqlite3_stmt, Finalize> m_statement;
  int m_bind_error = SQLITE_OK;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back on destruction unless committed. IMMEDIATE takes the
// write lock at BEGIN, so another writer makes BEGIN wait for the busy timeout rather than
// failing a read-modify-write half-way.
class Transaction {
public:
  static proto::Result<Transaction> begin(sqlite3* db, std::string_view step);

  Transaction(Transaction&& other) noexcept
    : m_db(std::exchange(other.m_db, nullptr)), m_step(std::move(other.m_step)) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  proto::Result<void> commit();

private:
  Transaction(sqlite3* db, std::string step) : m_db(db), m_step(std::move(step)) {}

  sqlite3* m_db; // null once committed or rolled back
  std::string m_step;
};

} // namespace timmd::store::sqlite

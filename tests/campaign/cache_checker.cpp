#include "tests/campaign/cache_checker.hpp"

#include <openssl/evp.h>
#include <sqlite3.h>

#include <array>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>

#include <sys/stat.h>

namespace timmd::campaign {
namespace fs = std::filesystem;
namespace {

struct DatabaseCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close(db); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const noexcept { sqlite3_finalize(statement); }
};
struct DigestFreer {
  void operator()(EVP_MD_CTX* context) const noexcept { EVP_MD_CTX_free(context); }
};
using Database = std::unique_ptr<sqlite3, DatabaseCloser>;
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

Database open_read_only(const fs::path& cache_dir) {
  const auto uri = "file:" + (cache_dir / "index.sqlite3").string() + "?mode=ro";
  sqlite3* raw = nullptr;
  const int status = sqlite3_open_v2(uri.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  Database db(raw);
  if (status != SQLITE_OK) {
    throw std::runtime_error("cannot open " + uri + " read-only: " + (raw ? sqlite3_errmsg(raw) : "out of memory"));
  }
  // A daemon may hold a write lock for a moment; wait for it rather than fail.
  sqlite3_busy_timeout(db.get(), 10'000);
  return db;
}

Statement prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    throw std::runtime_error("cannot prepare '" + sql + "': " + sqlite3_errmsg(db));
  }
  return Statement(raw);
}

// Runs `sql` and hands each row to `on_row`.
template <typename OnRow> void for_each_row(sqlite3* db, const std::string& sql, OnRow on_row) {
  auto statement = prepare(db, sql);
  int status = SQLITE_ROW;
  while ((status = sqlite3_step(statement.get())) == SQLITE_ROW) {
    on_row(statement.get());
  }
  if (status != SQLITE_DONE) {
    throw std::runtime_error("query '" + sql + "' failed: " + sqlite3_errmsg(db));
  }
}

std::string column_text(sqlite3_stmt* statement, int column) {
  const auto* text = sqlite3_column_text(statement, column);
  return text != nullptr ? reinterpret_cast<const char*>(text) : "";
}

bool is_hex(const std::string& text, std::size_t length) {
  return text.size() == length && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::vector<bool> decode_bitmap(const void* data, int bytes, std::uint64_t count) {
  std::vector<bool> chunks(count, false);
  const auto* bitmap = static_cast<const unsigned char*>(data);
  for (std::uint64_t i = 0; i < count && static_cast<int>(i / 8) < bytes; ++i) {
    const unsigned byte = bitmap[i / 8];
    chunks[i] = ((byte >> (i % 8)) & 1U) != 0;
  }
  return chunks;
}

struct BlobRow {
  std::uint64_t size = 0;
};

void check_blob_rows(const fs::path& blobs_dir, const std::map<std::string, BlobRow>& rows, CacheReport& report) {
  for (const auto& [sha256, row] : rows) {
    const auto file = blobs_dir / sha256.substr(0, 2) / sha256;
    struct stat status {};
    if (::lstat(file.c_str(), &status) != 0 || !S_ISREG(status.st_mode)) {
      report.problems.push_back("blob row " + sha256 + " has no regular file at " + file.string());
      continue;
    }
    if (static_cast<std::uint64_t>(status.st_size) != row.size) {
      report.problems.push_back("blob " + sha256 + " has " + std::to_string(status.st_size) + " bytes but its row says " +
                                std::to_string(row.size));
    }
    if ((status.st_mode & 0222) != 0) {
      report.problems.push_back("blob file " + file.string() + " is writable (mode " +
                                std::to_string(status.st_mode & 0777) + " decimal)");
    }
  }
}

void check_blob_files(const fs::path& blobs_dir, const std::map<std::string, BlobRow>& rows, CacheState state,
                      CacheReport& report) {
  if (!fs::exists(blobs_dir)) {
    return;
  }
  for (const auto& entry : fs::recursive_directory_iterator(blobs_dir)) {
    if (entry.is_directory()) {
      continue;
    }
    ++report.blob_files;
    const auto name = entry.path().filename().string();
    const auto fan_out = entry.path().parent_path().filename().string();
    if (!is_hex(name, 64) || !name.starts_with(fan_out) || entry.path().parent_path().parent_path() != blobs_dir) {
      report.problems.push_back("file " + entry.path().string() + " is not named as a blob");
      continue;
    }
    const auto actual = file_sha256(entry.path());
    if (actual != name) {
      report.problems.push_back("unverified blob " + entry.path().string() + ": its content hashes to " + actual);
    }
    if (!rows.contains(name) && state == CacheState::settled) {
      report.problems.push_back("blob file " + entry.path().string() + " has no index row");
    }
  }
}

void check_references(sqlite3* db, const std::map<std::string, BlobRow>& rows, CacheReport& report) {
  for_each_row(db, "SELECT r.name, f.commit_id, f.path, f.size, f.blob_sha256 FROM files f "
                   "JOIN repos r ON r.id = f.repo_id WHERE f.blob_sha256 IS NOT NULL",
               [&](sqlite3_stmt* row) {
                 ++report.file_rows_with_blob;
                 const auto what = column_text(row, 0) + "@" + column_text(row, 1) + "/" + column_text(row, 2);
                 const auto sha256 = column_text(row, 4);
                 const auto blob = rows.find(sha256);
                 if (blob == rows.end()) {
                   report.problems.push_back("file row " + what + " names blob " + sha256 + " that has no row");
                 } else if (blob->second.size != static_cast<std::uint64_t>(sqlite3_column_int64(row, 3))) {
                   report.problems.push_back("file row " + what + " has another size than its blob " + sha256);
                 }
               });
  for_each_row(db, "SELECT derived_sha256 FROM derived", [&](sqlite3_stmt* row) {
    const auto sha256 = column_text(row, 0);
    if (!rows.contains(sha256)) {
      report.problems.push_back("derived row names blob " + sha256 + " that has no row");
    }
  });
}

void check_temporary_files(sqlite3* db, const fs::path& tmp_dir, CacheState state, CacheReport& report) {
  std::map<std::string, std::uint64_t> downloads;
  for_each_row(db, "SELECT key, size FROM downloads", [&](sqlite3_stmt* row) {
    downloads[column_text(row, 0)] = static_cast<std::uint64_t>(sqlite3_column_int64(row, 1));
  });
  if (!fs::exists(tmp_dir)) {
    return;
  }
  for (const auto& entry : fs::directory_iterator(tmp_dir)) {
    const auto name = entry.path().filename().string();
    if (state == CacheState::after_crash && name.starts_with("derived-")) {
      continue;
    }
    const auto key = name.ends_with(".partial") ? name.substr(0, name.size() - 8) : std::string();
    const auto download = downloads.find(key);
    if (key.empty() || download == downloads.end()) {
      report.problems.push_back("temporary file " + entry.path().string() + " is not a resumable partial");
      continue;
    }
    ++report.partials;
    if (!entry.is_regular_file() || entry.file_size() != download->second) {
      report.problems.push_back("partial " + entry.path().string() + " does not have the " +
                                std::to_string(download->second) + " bytes its download row says");
    }
  }
}

} // namespace

std::string CacheReport::describe() const {
  std::ostringstream text;
  if (problems.empty()) {
    text << "cache consistent: " << blob_rows << " blob rows, " << blob_files << " blob files, "
         << file_rows_with_blob << " file rows with a blob, " << partials << " resumable partials";
  }
  for (const auto& problem : problems) {
    text << problem << '\n';
  }
  return text.str();
}

CacheReport check_cache(const fs::path& cache_dir, CacheState state) {
  CacheReport report;
  auto db = open_read_only(cache_dir);

  // One read transaction, so that the rows agree with each other while a daemon writes.
  sqlite3_exec(db.get(), "BEGIN", nullptr, nullptr, nullptr);
  std::map<std::string, BlobRow> rows;
  for_each_row(db.get(), "SELECT sha256, size FROM blobs", [&](sqlite3_stmt* row) {
    rows[column_text(row, 0)] = BlobRow{static_cast<std::uint64_t>(sqlite3_column_int64(row, 1))};
  });
  report.blob_rows = rows.size();
  check_references(db.get(), rows, report);
  check_temporary_files(db.get(), cache_dir / "tmp", state, report);
  sqlite3_exec(db.get(), "COMMIT", nullptr, nullptr, nullptr);

  const auto blobs_dir = cache_dir / "blobs" / "sha256";
  check_blob_rows(blobs_dir, rows, report);
  check_blob_files(blobs_dir, rows, state, report);
  return report;
}

std::optional<std::vector<bool>> recorded_chunks(const fs::path& cache_dir, const std::string& key) {
  auto db = open_read_only(cache_dir);
  auto statement = prepare(db.get(), "SELECT size, chunk_size, chunks FROM downloads WHERE key = ?1");
  sqlite3_bind_text(statement.get(), 1, key.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(statement.get()) != SQLITE_ROW) {
    return std::nullopt;
  }
  const auto size = static_cast<std::uint64_t>(sqlite3_column_int64(statement.get(), 0));
  const auto chunk_size = static_cast<std::uint64_t>(sqlite3_column_int64(statement.get(), 1));
  const auto count = chunk_size > 0 ? (size + chunk_size - 1) / chunk_size : 0;
  return decode_bitmap(sqlite3_column_blob(statement.get(), 2), sqlite3_column_bytes(statement.get(), 2), count);
}

bool has_blob_row(const fs::path& cache_dir, const std::string& sha256) {
  auto db = open_read_only(cache_dir);
  auto statement = prepare(db.get(), "SELECT 1 FROM blobs WHERE sha256 = ?1");
  sqlite3_bind_text(statement.get(), 1, sha256.c_str(), -1, SQLITE_TRANSIENT);
  return sqlite3_step(statement.get()) == SQLITE_ROW;
}

std::string file_sha256(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path.string());
  }
  std::unique_ptr<EVP_MD_CTX, DigestFreer> context(EVP_MD_CTX_new());
  EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    EVP_DigestUpdate(context.get(), buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(context.get(), digest.data(), &length);
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += k_hex[digest[i] >> 4];
    hex += k_hex[digest[i] & 0xf];
  }
  return hex;
}

} // namespace timmd::campaign

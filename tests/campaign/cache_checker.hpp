// An invariant checker for a timmd cache directory that shares no code with the daemon: it reads
// the index with SQLite (read-only) and hashes blob files with OpenSSL, so a bug in the store
// cannot hide itself from the check.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace timmd::campaign {

enum class CacheState {
  // The daemon stopped cleanly or is idle: every blob file has a row and tmp/ holds only
  // resumable partials.
  settled,
  // The daemon was killed with SIGKILL: a verified blob file may still lack its row (start-up
  // repair adopts it), and tmp/ may hold a derived checkpoint that was being written.
  after_crash,
};

struct CacheReport {
  std::vector<std::string> problems;
  std::size_t blob_rows = 0;
  std::size_t blob_files = 0;
  std::size_t file_rows_with_blob = 0;
  std::size_t partials = 0;

  bool ok() const noexcept { return problems.empty(); }
  // One line per problem, or "cache consistent" with the counts.
  std::string describe() const;
};

// Checks the cache under `cache_dir`:
// - every `blobs` row has a read-only regular file whose size is the row's and whose SHA-256 is
//   its name;
// - every file under blobs/ has a blob name in its fan-out directory, hashes to that name, and
//   (in the settled state) has a row;
// - every `files` and `derived` row that names a blob names an existing row;
// - tmp/ holds only `<key>.partial` files with a `downloads` row of the same size.
// Opens index.sqlite3 read-only, so it may run while a daemon serves the cache.
CacheReport check_cache(const std::filesystem::path& cache_dir, CacheState state);

// Completed chunks of the partial download `key` as the index records them, or nothing when
// there is no such row.
std::optional<std::vector<bool>> recorded_chunks(const std::filesystem::path& cache_dir, const std::string& key);

// Whether `blobs` has a row for `sha256`.
bool has_blob_row(const std::filesystem::path& cache_dir, const std::string& sha256);

// Lowercase hex SHA-256 of a file, computed with OpenSSL.
std::string file_sha256(const std::filesystem::path& path);

} // namespace timmd::campaign

// The on-disk layout of a cache directory and the lock that gives one daemon ownership of it.
//
//   ROOT/index.sqlite3             SQLite index (WAL)
//   ROOT/blobs/sha256/ab/<64 hex>  verified blobs, read-only, named by their SHA-256
//   ROOT/tmp/                      partial downloads; same filesystem, so publishing is a rename
//   ROOT/quarantine/               blob files that failed `verify`, kept for inspection
//   ROOT/lock                      flock()ed by the owning daemon for its lifetime
#pragma once

#include "proto/error.hpp"

#include <filesystem>
#include <string_view>

namespace timmd::store {

class CacheLayout {
public:
  // Creates the directories if missing and takes an exclusive flock on ROOT/lock. Fails with
  // `busy` naming the directory when another process holds the lock, and with `internal` when a
  // directory cannot be created or the lock file cannot be opened.
  static proto::Result<CacheLayout> open(const std::filesystem::path& root);

  CacheLayout(CacheLayout&&) noexcept;
  CacheLayout& operator=(CacheLayout&&) noexcept;
  CacheLayout(const CacheLayout&) = delete;
  CacheLayout& operator=(const CacheLayout&) = delete;
  ~CacheLayout(); // releases the lock

  const std::filesystem::path& root() const noexcept { return m_root; }
  std::filesystem::path index_path() const { return m_root / "index.sqlite3"; }
  std::filesystem::path blobs_dir() const { return m_root / "blobs" / "sha256"; }
  std::filesystem::path tmp_dir() const { return m_root / "tmp"; }
  // Created on first use by quarantine_file(), not by open().
  std::filesystem::path quarantine_dir() const { return m_root / "quarantine"; }

  // blobs/sha256/ab/abcd... REQUIRES: is_sha256_hex(sha256).
  std::filesystem::path blob_path(std::string_view sha256) const;

  // tmp/<key>.partial for the download identified by key (an etag: 40 or 64 hex digits).
  std::filesystem::path partial_path(std::string_view key) const;

private:
  CacheLayout(std::filesystem::path root, int lock_fd);

  std::filesystem::path m_root;
  int m_lock_fd = -1;
};

} // namespace timmd::store

#include "daemon/store/repair.hpp"

#include "daemon/store/digest.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace timmd::store {
namespace fs = std::filesystem;
namespace {

bool is_fan_out_name(std::string_view name) {
  const auto is_hex_digit = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return name.size() == 2 && is_hex_digit(name[0]) && is_hex_digit(name[1]);
}

proto::Error listing_error(const fs::path& dir, const std::error_code& error) {
  return proto::make_error(proto::Errc::internal,
                           "cannot list " + dir.string() + " during cache repair: " +
                             error.message() + "; check the permissions of the cache directory",
                           {{"path", dir.string()}});
}

// Lists a directory before anything in it is removed, so removal cannot upset the iteration.
proto::Result<std::vector<fs::directory_entry>> list_directory(const fs::path& dir) {
  std::error_code error;
  std::vector<fs::directory_entry> entries;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    entries.push_back(*it);
  }
  if (error) {
    return listing_error(dir, error);
  }
  return entries;
}

proto::Result<void> remove_file(const fs::path& file) {
  if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
    return proto::make_error(proto::Errc::internal,
                             "cannot remove " + file.string() + " during cache repair: " +
                               std::strerror(errno) + "; check the permissions of the cache "
                                                      "directory",
                             {{"path", file.string()}});
  }
  return {};
}

proto::Result<void> remove_rows_without_files(Index& index, const BlobStore& blobs,
                                              RepairReport& report) {
  auto rows = index.all_blobs();
  if (!rows) {
    return rows.error();
  }
  for (const auto& row : *rows) {
    if (blobs.contains(row.sha256)) {
      continue;
    }
    // The file rows keep the hash in lost_sha256, so `verify --repair` fetches them again.
    if (auto deleted = index.delete_lost_blob(row.sha256); !deleted) {
      return deleted.error();
    }
    spdlog::warn("repair: blob {} has an index row but no file at {}; removed the row",
                 row.sha256, blobs.path(row.sha256).string());
    ++report.blob_rows_removed;
  }
  return {};
}

// Adopts or removes a blob file that has no row. When its content matches its name, a crash
// came between publish and insert, so it gets a row. Otherwise the file is damaged and removed.
proto::Result<void> check_unrecorded_blob(Index& index, const fs::path& file,
                                          std::string_view sha256, RepairReport& report) {
  struct stat status {};
  if (::stat(file.c_str(), &status) != 0) {
    return {}; // removed while we looked; nothing left to repair
  }
  const auto size = static_cast<std::uint64_t>(status.st_size);

  auto sha256_hasher = Hasher::sha256();
  auto git_hasher = Hasher::git_blob_sha1(size);
  Hasher* const hashers[] = {&sha256_hasher, &git_hasher};
  if (auto hashed = hash_file_into(file, hashers); !hashed) {
    return hashed.error();
  }
  const auto actual = sha256_hasher.final_hex();

  if (actual != sha256) {
    if (auto removed = remove_file(file); !removed) {
      return removed.error();
    }
    spdlog::warn("repair: removed blob file {} because its content hashes to {}", file.string(),
                 actual);
    ++report.blob_files_removed;
    return {};
  }

  // Publishing makes blobs read-only; a crash may have come before that.
  ::chmod(file.c_str(), 0444);
  const BlobRecord record{
    .sha256 = std::string(sha256),
    .size = size,
    .git_oid = git_hasher.final_hex(),
    .created = static_cast<std::int64_t>(status.st_mtime),
    .last_access = static_cast<std::int64_t>(status.st_mtime),
    .pin_count = 0,
  };
  if (auto inserted = index.insert_blob(record); !inserted) {
    return inserted.error();
  }
  spdlog::warn("repair: blob {} had a verified file but no index row; added the row", sha256);
  ++report.blob_files_adopted;
  return {};
}

proto::Result<void> check_blob_files(Index& index, const CacheLayout& layout,
                                     RepairReport& report) {
  auto rows = index.all_blobs();
  if (!rows) {
    return rows.error();
  }
  std::set<std::string, std::less<>> recorded;
  for (const auto& row : *rows) {
    recorded.insert(row.sha256);
  }

  auto fan_out_dirs = list_directory(layout.blobs_dir());
  if (!fan_out_dirs) {
    return fan_out_dirs.error();
  }
  for (const auto& dir : *fan_out_dirs) {
    const auto prefix = dir.path().filename().string();
    if (!dir.is_directory() || !is_fan_out_name(prefix)) {
      spdlog::warn("repair: left {} alone because it is not a blob fan-out directory",
                   dir.path().string());
      continue;
    }

    auto files = list_directory(dir.path());
    if (!files) {
      return files.error();
    }
    for (const auto& entry : *files) {
      const auto name = entry.path().filename().string();
      if (!entry.is_regular_file() || entry.is_symlink()) {
        spdlog::warn("repair: left {} alone because it is not a regular file",
                     entry.path().string());
        continue;
      }
      if (!is_sha256_hex(name) || !name.starts_with(prefix)) {
        if (auto removed = remove_file(entry.path()); !removed) {
          return removed.error();
        }
        spdlog::warn("repair: removed {} because its name is not a blob name for this directory",
                     entry.path().string());
        ++report.blob_files_removed;
        continue;
      }
      if (recorded.contains(name)) {
        continue;
      }
      if (auto checked = check_unrecorded_blob(index, entry.path(), name, report); !checked) {
        return checked.error();
      }
    }
  }
  return {};
}

proto::Result<void> remove_downloads_without_partials(Index& index, const CacheLayout& layout,
                                                      RepairReport& report) {
  auto downloads = index.all_downloads();
  if (!downloads) {
    return downloads.error();
  }
  for (const auto& download : *downloads) {
    const bool valid_key = is_sha256_hex(download.key) || is_sha1_hex(download.key);
    std::error_code error;
    if (valid_key && fs::is_regular_file(layout.partial_path(download.key), error)) {
      continue;
    }
    if (auto deleted = index.delete_download(download.key); !deleted) {
      return deleted.error();
    }
    spdlog::warn("repair: removed the resume state of download {} because its partial file is "
                 "gone",
                 download.key);
    ++report.download_rows_removed;
  }
  return {};
}

proto::Result<void> remove_stale_temporary_files(Index& index, const CacheLayout& layout,
                                                 std::chrono::seconds grace,
                                                 RepairReport& report) {
  auto downloads = index.all_downloads();
  if (!downloads) {
    return downloads.error();
  }
  std::set<std::string, std::less<>> owned;
  for (const auto& download : *downloads) {
    owned.insert(layout.partial_path(download.key).filename().string());
  }

  auto entries = list_directory(layout.tmp_dir());
  if (!entries) {
    return entries.error();
  }
  const auto now = fs::file_time_type::clock::now();
  for (const auto& entry : *entries) {
    const auto name = entry.path().filename().string();
    std::error_code error;
    const auto modified = entry.last_write_time(error);
    if (error || owned.contains(name) || entry.is_directory()) {
      continue;
    }
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - modified);
    if (age < grace) {
      continue; // a download may have created it after the rows above were read
    }
    if (auto removed = remove_file(entry.path()); !removed) {
      return removed.error();
    }
    spdlog::warn("repair: removed temporary file {} ({} s old) because no download owns it",
                 entry.path().string(), age.count());
    ++report.partials_removed;
  }
  return {};
}

} // namespace

proto::Result<RepairReport> repair_cache(Index& index, const CacheLayout& layout,
                                         const BlobStore& blobs, std::chrono::seconds grace) {
  RepairReport report;

  if (auto repaired = remove_rows_without_files(index, blobs, report); !repaired) {
    return repaired.error();
  }
  if (auto repaired = check_blob_files(index, layout, report); !repaired) {
    return repaired.error();
  }
  if (auto repaired = remove_downloads_without_partials(index, layout, report); !repaired) {
    return repaired.error();
  }
  if (auto repaired = remove_stale_temporary_files(index, layout, grace, report); !repaired) {
    return repaired.error();
  }
  return report;
}

} // namespace timmd::store

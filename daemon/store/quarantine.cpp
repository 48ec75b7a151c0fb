#include "daemon/store/quarantine.hpp"

#include "daemon/store/file_handle.hpp"

#include <cerrno>
#include <ctime>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace timmd::store {
namespace {

// Past this many files quarantined in the same second under one label, something loops.
constexpr int k_max_suffix = 1000;

std::string utc_stamp(std::chrono::system_clock::time_point now) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y%m%dT%H%M%SZ", &utc);
  return text;
}

// rename(2) that never replaces `to`: 1 when moved, 0 when `to` exists, -1 with errno set.
int rename_without_replacing(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return 1;
  }
  if (errno == EEXIST) {
    return 0;
  }
  if (errno != EINVAL && errno != ENOSYS) {
    return -1;
  }

  // The filesystem lacks RENAME_NOREPLACE. Only the I/O thread quarantines, so nothing races
  // with this check.
  struct stat status {};
  if (::lstat(to.c_str(), &status) == 0) {
    return 0;
  }
  return ::rename(from.c_str(), to.c_str()) == 0 ? 1 : -1;
}

} // namespace

proto::Result<std::filesystem::path> quarantine_file(const CacheLayout& layout,
                                                     const std::filesystem::path& file,
                                                     std::string_view label,
                                                     std::chrono::system_clock::time_point now) {
  const auto dir = layout.quarantine_dir();
  if (auto made = make_directory(dir); !made) {
    return made.error();
  }

  const auto base = std::string(label) + "." + utc_stamp(now);
  for (int suffix = 1; suffix <= k_max_suffix; ++suffix) {
    const auto target = dir / (suffix == 1 ? base : base + "." + std::to_string(suffix));
    const int moved = rename_without_replacing(file, target);
    if (moved == 0) {
      continue;
    }
    if (moved < 0) {
      const int error = errno;
      if (error == ENOENT) {
        return proto::make_error(proto::Errc::not_found,
                                 "cannot quarantine " + file.string() + " because it no longer exists",
                                 {{"path", file.string()}});
      }
      return errno_error("moving into quarantine", file, error);
    }

    if (auto synced = fsync_directory(dir); !synced) {
      return synced.error();
    }
    if (auto synced = fsync_directory(file.parent_path()); !synced) {
      return synced.error();
    }
    return target;
  }
  return proto::make_error(proto::Errc::internal,
                           "cannot quarantine " + file.string() + ": " + std::to_string(k_max_suffix) +
                             " files named " + base + ".N already exist in " + dir.string() +
                             "; move old files out of the quarantine directory",
                           {{"path", file.string()}});
}

} // namespace timmd::store

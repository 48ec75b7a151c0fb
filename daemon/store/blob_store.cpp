#include "daemon/store/blob_store.hpp"

#include "daemon/store/digest.hpp"
#include "daemon/store/file_handle.hpp"

#include <cerrno>
#include <cstdio>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace timmd::store {
namespace {

proto::Error invalid_name(std::string_view sha256) {
  return proto::make_error(proto::Errc::invalid_request,
                           "invalid blob name '" + std::string(sha256) +
                             "': expected 64 lowercase hex digits of a SHA-256",
                           {{"sha256", std::string(sha256)}});
}

// Moves `from` to `to` unless `to` exists. Returns true when it moved and false when the target
// was already there, in which case `from` is left in place.
proto::Result<bool> rename_no_replace(const std::filesystem::path& from,
                                      const std::filesystem::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return true;
  }
  const int error = errno;
  if (error == EEXIST) {
    return false;
  }
  if (error != EINVAL && error != ENOSYS) {
    return errno_error("renaming into the blob store", from, error);
  }

  // The filesystem lacks RENAME_NOREPLACE. A check followed by rename(2) can race with another
  // publisher of the same blob, but both files then have the same content, so either wins.
  struct stat status {};
  if (::lstat(to.c_str(), &status) == 0) {
    return false;
  }
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return errno_error("renaming into the blob store", from, errno);
  }
  return true;
}

} // namespace

bool BlobStore::contains(std::string_view sha256) const {
  if (!is_sha256_hex(sha256)) {
    return false;
  }
  struct stat status {};
  return ::stat(path(sha256).c_str(), &status) == 0 && S_ISREG(status.st_mode);
}

proto::Result<void> BlobStore::publish(const std::filesystem::path& tmp_file,
                                       std::string_view sha256) const {
  if (!is_sha256_hex(sha256)) {
    return invalid_name(sha256);
  }
  const auto target = path(sha256);
  const auto fan_out_dir = target.parent_path();

  auto created = make_directory(fan_out_dir);
  if (!created) {
    return created.error();
  }
  if (*created) {
    if (auto synced = fsync_directory(m_layout.blobs_dir()); !synced) {
      return synced.error();
    }
  }

  if (::chmod(tmp_file.c_str(), 0444) != 0) {
    return errno_error("making read-only", tmp_file, errno);
  }

  auto moved = rename_no_replace(tmp_file, target);
  if (!moved) {
    // Leave the file writable again, so that a resumed download can reopen it for writing.
    ::chmod(tmp_file.c_str(), 0644);
    return moved.error();
  }
  if (!*moved) {
    // The same name means the same content, so the existing blob serves as well.
    if (::unlink(tmp_file.c_str()) != 0 && errno != ENOENT) {
      return errno_error("removing the duplicate", tmp_file, errno);
    }
    return {};
  }

  return fsync_directory(fan_out_dir);
}

proto::Result<void> BlobStore::remove(std::string_view sha256) const {
  if (!is_sha256_hex(sha256)) {
    return invalid_name(sha256);
  }
  const auto target = path(sha256);
  if (::unlink(target.c_str()) != 0 && errno != ENOENT) {
    return errno_error("removing blob", target, errno);
  }
  return {};
}

} // namespace timmd::store

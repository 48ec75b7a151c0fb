// POSIX file helpers shared by the store: an owning file descriptor and errno-to-Error mapping.
#pragma once

#include "proto/error.hpp"

#include <filesystem>
#include <string_view>
#include <utility>

namespace timmd::store {

// Owns one file descriptor and closes it on destruction; -1 means none.
class UniqueFd {
public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : m_fd(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return m_fd; }
  explicit operator bool() const noexcept { return m_fd >= 0; }
  int release() noexcept { return std::exchange(m_fd, -1); }
  void reset(int fd = -1) noexcept;

private:
  int m_fd = -1;
};

// Builds the error for a failed system call: ENOSPC and EDQUOT become `disk_full`, everything
// else `internal`. The message reads "<action> <path> failed: <strerror>" plus the fix.
proto::Error errno_error(std::string_view action, const std::filesystem::path& path, int error);

// Opens a file with open(2), retrying on EINTR; O_CLOEXEC is always added.
UniqueFd open_file(const std::filesystem::path& path, int flags, unsigned mode = 0);

// fsync(2)s a directory so that a rename or a new entry in it survives a crash.
proto::Result<void> fsync_directory(const std::filesystem::path& dir);

// Creates `dir` with mode 0755 (before the umask) when it is missing. Returns true when this
// call created it and false when it already existed; a non-directory at that path is an error.
proto::Result<bool> make_directory(const std::filesystem::path& dir);

// Creates `dir` and its missing parents with mode 0755, like `mkdir -p`.
proto::Result<void> make_directories(const std::filesystem::path& dir);

} // namespace timmd::store

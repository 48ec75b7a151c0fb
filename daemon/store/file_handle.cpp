#include "daemon/store/file_handle.hpp"

#include <cerrno>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace timmd::store {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    reset(other.release());
  }
  return *this;
}

void UniqueFd::reset(int fd) noexcept {
  if (m_fd >= 0) {
    // close(2) is not retried on EINTR because Linux has released the descriptor already.
    ::close(m_fd);
  }
  m_fd = fd;
}

proto::Error errno_error(std::string_view action, const std::filesystem::path& path, int error) {
  auto message = std::string(action) + " " + path.string() + " failed: " + std::strerror(error);
  const nlohmann::json details = {{"path", path.string()}, {"errno", error}};

  if (error == ENOSPC || error == EDQUOT) {
    message += "; free space on that filesystem or move the cache directory";
    return proto::make_error(proto::Errc::disk_full, std::move(message), details);
  }
  message += "; check the permissions and the health of the cache directory";
  return proto::make_error(proto::Errc::internal, std::move(message), details);
}

UniqueFd open_file(const std::filesystem::path& path, int flags, unsigned mode) {
  int fd = -1;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, static_cast<mode_t>(mode));
  } while (fd < 0 && errno == EINTR);
  return UniqueFd(fd);
}

proto::Result<void> fsync_directory(const std::filesystem::path& dir) {
  const auto fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (!fd) {
    return errno_error("opening directory", dir, errno);
  }
  if (::fsync(fd.get()) != 0) {
    return errno_error("fsync of directory", dir, errno);
  }
  return {};
}

proto::Result<bool> make_directory(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0) {
    return true;
  }
  const int error = errno;

  struct stat status {};
  if (error == EEXIST && ::stat(dir.c_str(), &status) == 0 && S_ISDIR(status.st_mode)) {
    return false;
  }
  if (error == EEXIST) {
    return proto::make_error(proto::Errc::internal,
                             "cannot create directory " + dir.string() +
                               " because a file of that name exists; move the file away",
                             {{"path", dir.string()}});
  }
  return errno_error("creating directory", dir, error);
}

proto::Result<void> make_directories(const std::filesystem::path& dir) {
  std::filesystem::path current;
  for (const auto& part : dir) {
    current /= part;
    if (part.empty() || part == current.root_path()) {
      continue;
    }
    if (auto made = make_directory(current); !made) {
      return made.error();
    }
  }
  return {};
}

} // namespace timmd::store

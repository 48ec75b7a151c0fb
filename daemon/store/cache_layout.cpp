#include "daemon/store/cache_layout.hpp"

#include "daemon/store/file_handle.hpp"

#include <cerrno>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace timmd::store {
namespace {

// Reads the pid that the lock holder wrote, for the `busy` message; empty when unreadable.
std::string read_lock_owner(int fd) {
  char buffer[32] = {};
  const auto count = ::pread(fd, buffer, sizeof(buffer) - 1, 0);
  if (count <= 0) {
    return {};
  }
  std::string text(buffer, static_cast<std::size_t>(count));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

// Replaces the lock file's content with our pid. Only a hint for people reading `busy`
// messages, so a failure here is ignored.
void write_lock_owner(int fd) {
  const auto text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const auto written = ::pwrite(fd, text.data(), text.size(), 0);
  }
}

} // namespace

proto::Result<CacheLayout> CacheLayout::open(const std::filesystem::path& root) {
  for (const auto& dir : {root, root / "blobs" / "sha256", root / "tmp"}) {
    if (auto made = make_directories(dir); !made) {
      return made.error();
    }
  }

  const auto lock_path = root / "lock";
  auto lock_fd = open_file(lock_path, O_RDWR | O_CREAT, 0644);
  if (!lock_fd) {
    return errno_error("opening the lock file", lock_path, errno);
  }

  // flock(2) locks belong to the open file description, so a second open() in this same
  // process conflicts too, and the kernel drops the lock when the process dies.
  if (::flock(lock_fd.get(), LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    if (error != EWOULDBLOCK) {
      return errno_error("locking", lock_path, error);
    }
    const auto owner = read_lock_owner(lock_fd.get());
    return proto::make_error(proto::Errc::busy,
                             "cache directory " + root.string() +
                               " is in use by another timmd process" +
                               (owner.empty() ? "" : " (pid " + owner + ")") +
                               "; stop that daemon or choose another cache directory",
                             {{"path", root.string()}});
  }
  write_lock_owner(lock_fd.get());

  return CacheLayout(root, lock_fd.release());
}

CacheLayout::CacheLayout(std::filesystem::path root, int lock_fd)
  : m_root(std::move(root)), m_lock_fd(lock_fd) {}

CacheLayout::CacheLayout(CacheLayout&& other) noexcept
  : m_root(std::move(other.m_root)), m_lock_fd(std::exchange(other.m_lock_fd, -1)) {}

CacheLayout& CacheLayout::operator=(CacheLayout&& other) noexcept {
  if (this != &other) {
    UniqueFd released(m_lock_fd);
    m_root = std::move(other.m_root);
    m_lock_fd = std::exchange(other.m_lock_fd, -1);
  }
  return *this;
}

// Closing the descriptor releases the flock.
CacheLayout::~CacheLayout() { UniqueFd released(m_lock_fd); }

std::filesystem::path CacheLayout::blob_path(std::string_view sha256) const {
  return blobs_dir() / std::string(sha256.substr(0, 2)) / std::string(sha256);
}

std::filesystem::path CacheLayout::partial_path(std::string_view key) const {
  return tmp_dir() / (std::string(key) + ".partial");
}

} // namespace timmd::store

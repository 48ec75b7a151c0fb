#include "tests/hubserver/file_descriptor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace timmd::testhub {

FileDescriptor::FileDescriptor(const std::filesystem::path& path)
    : m_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
  if (m_fd < 0) {
    throw std::system_error(errno, std::generic_category(), "cannot open " + path.string());
  }
}

FileDescriptor::~FileDescriptor() {
  ::close(m_fd);
}

std::size_t FileDescriptor::read_at(std::uint64_t offset, char* data, std::size_t size) const {
  std::size_t done = 0;
  while (done < size) {
    const auto count = ::pread(m_fd, data + done, size - done, static_cast<off_t>(offset + done));
    if (count < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw std::system_error(errno, std::generic_category(), "pread failed");
    }
    if (count == 0) {
      break;
    }
    done += static_cast<std::size_t>(count);
  }
  return done;
}

} // namespace timmd::testhub

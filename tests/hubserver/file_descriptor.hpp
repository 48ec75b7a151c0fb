// A read-only POSIX file descriptor owned by one object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace timmd::testhub {

class FileDescriptor {
 public:
  // Opens `path` for reading. Throws std::system_error when it cannot be opened.
  explicit FileDescriptor(const std::filesystem::path& path);
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor();

  int get() const { return m_fd; }

  // Reads up to `size` bytes at `offset`, retrying on EINTR. Returns the count read, which is
  // short only at end of file. Throws std::system_error on a read error.
  std::size_t read_at(std::uint64_t offset, char* data, std::size_t size) const;

 private:
  int m_fd;
};

} // namespace timmd::testhub

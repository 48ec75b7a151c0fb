#include "daemon/tensors/byte_source.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace timmd::tensors {

proto::Error invalid_checkpoint(const std::string& source, const std::string& what) {
  return proto::make_error(proto::Errc::invalid_checkpoint, source + ": " + what);
}

proto::Error unsupported_format(const std::string& source, const std::string& what) {
  return proto::make_error(proto::Errc::unsupported_format, source + ": " + what);
}

std::uint16_t load_u16(const std::byte* p) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) |
                                    (std::to_integer<unsigned>(p[1]) << 8U));
}

std::uint32_t load_u32(const std::byte* p) {
  return static_cast<std::uint32_t>(load_u16(p)) |
         (static_cast<std::uint32_t>(load_u16(p + 2)) << 16U);
}

std::uint64_t load_u64(const std::byte* p) {
  return static_cast<std::uint64_t>(load_u32(p)) |
         (static_cast<std::uint64_t>(load_u32(p + 4)) << 32U);
}

proto::Result<std::vector<std::byte>> ByteSource::read_vector(std::uint64_t offset,
                                                              std::uint64_t length) const {
  if (!range_fits(offset, length, size())) {
    return invalid_checkpoint(name(), "range of " + std::to_string(length) + " bytes at offset " +
                                          std::to_string(offset) + " reaches past the end (" +
                                          std::to_string(size()) + " bytes)");
  }
  std::vector<std::byte> bytes(static_cast<std::size_t>(length));
  auto read = read_at(offset, bytes);
  if (!read) {
    return read.error();
  }
  return bytes;
}

FileSource::FileSource(int fd, std::uint64_t size, std::string name)
  : m_fd(fd), m_size(size), m_name(std::move(name)) {}

FileSource::FileSource(FileSource&& other) noexcept
  : m_fd(std::exchange(other.m_fd, -1)), m_size(other.m_size), m_name(std::move(other.m_name)) {}

FileSource& FileSource::operator=(FileSource&& other) noexcept {
  if (this != &other) {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    m_fd = std::exchange(other.m_fd, -1);
    m_size = other.m_size;
    m_name = std::move(other.m_name);
  }
  return *this;
}

FileSource::~FileSource() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

proto::Result<FileSource> FileSource::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const auto code = err == ENOENT ? proto::Errc::not_found : proto::Errc::internal;
    return proto::make_error(code, path.string() + ": cannot open: " + std::strerror(err));
  }
  FileSource source(fd, 0, path.string());

  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return proto::make_error(proto::Errc::internal,
                             path.string() + ": fstat failed: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return invalid_checkpoint(path.string(), "not a regular file");
  }
  source.m_size = static_cast<std::uint64_t>(st.st_size);
  return source;
}

proto::Result<void> FileSource::read_at(std::uint64_t offset, std::span<std::byte> out) const {
  if (!range_fits(offset, out.size(), m_size)) {
    return invalid_checkpoint(m_name, "read of " + std::to_string(out.size()) + " bytes at offset " +
                                          std::to_string(offset) + " reaches past the end (" +
                                          std::to_string(m_size) + " bytes)");
  }
  std::size_t done = 0;
  while (done < out.size()) {
    const auto n = ::pread(m_fd, out.data() + done, out.size() - done,
                           static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return proto::make_error(proto::Errc::internal,
                               m_name + ": read failed at offset " + std::to_string(offset + done) +
                                   ": " + std::strerror(errno));
    }
    if (n == 0) {
      return invalid_checkpoint(m_name, "file shrank while reading (offset " +
                                            std::to_string(offset + done) + ")");
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

MemorySource::MemorySource(std::span<const std::byte> bytes, std::string name)
  : m_bytes(bytes), m_name(std::move(name)) {}

proto::Result<void> MemorySource::read_at(std::uint64_t offset, std::span<std::byte> out) const {
  if (!range_fits(offset, out.size(), m_bytes.size())) {
    return invalid_checkpoint(m_name, "read of " + std::to_string(out.size()) + " bytes at offset " +
                                          std::to_string(offset) + " reaches past the end (" +
                                          std::to_string(m_bytes.size()) + " bytes)");
  }
  if (!out.empty()) {
    std::memcpy(out.data(), m_bytes.data() + offset, out.size());
  }
  return {};
}

} // namespace timmd::tensors

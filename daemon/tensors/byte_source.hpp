// Bounded random-access input for the checkpoint parsers.
#pragma once

#include "proto/error.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace timmd::tensors {

// Read-only bytes addressed by offset. Parsers see checkpoints only through this interface, so
// the same code runs on a file (pread, nothing mapped) and on a buffer (tests, fuzzing).
// Implementations are safe to read from several threads at once.
class ByteSource {
public:
  virtual ~ByteSource() = default;

  // Total size in bytes, fixed for the lifetime of the source.
  virtual std::uint64_t size() const = 0;

  // Name used in error messages: the path of a file or a caller-given label.
  virtual const std::string& name() const = 0;

  // Fills `out` with the bytes at [offset, offset + out.size()). Fails with invalid_checkpoint
  // when the range reaches past size(), and with internal on an I/O error.
  virtual proto::Result<void> read_at(std::uint64_t offset, std::span<std::byte> out) const = 0;

  // Reads [offset, offset + length) into a new buffer, with the same failures as read_at.
  proto::Result<std::vector<std::byte>> read_vector(std::uint64_t offset, std::uint64_t length) const;
};

// A regular file opened read-only. The descriptor is closed by the destructor.
class FileSource final : public ByteSource {
public:
  // Opens `path`; not_found if it is missing, internal on other open or stat errors.
  static proto::Result<FileSource> open(const std::filesystem::path& path);

  FileSource(FileSource&& other) noexcept;
  FileSource& operator=(FileSource&& other) noexcept;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  ~FileSource() override;

  std::uint64_t size() const override { return m_size; }
  const std::string& name() const override { return m_name; }
  proto::Result<void> read_at(std::uint64_t offset, std::span<std::byte> out) const override;

private:
  FileSource(int fd, std::uint64_t size, std::string name);

  int m_fd = -1;
  std::uint64_t m_size = 0;
  std::string m_name;
};

// Bytes owned elsewhere; the caller keeps them alive while the source is used.
class MemorySource final : public ByteSource {
public:
  MemorySource(std::span<const std::byte> bytes, std::string name);

  std::uint64_t size() const override { return m_bytes.size(); }
  const std::string& name() const override { return m_name; }
  proto::Result<void> read_at(std::uint64_t offset, std::span<std::byte> out) const override;

private:
  std::span<const std::byte> m_bytes;
  std::string m_name;
};

// Builds an invalid_checkpoint error whose message starts with the source name.
proto::Error invalid_checkpoint(const std::string& source, const std::string& what);

// Builds an unsupported_format error whose message starts with the source name.
proto::Error unsupported_format(const std::string& source, const std::string& what);

// True when [offset, offset + length) lies inside [0, size), without overflowing.
constexpr bool range_fits(std::uint64_t offset, std::uint64_t length, std::uint64_t size) {
  return offset <= size && length <= size - offset;
}

// Little-endian loads from a buffer the caller has bounds-checked.
std::uint16_t load_u16(const std::byte* p);
std::uint32_t load_u32(const std::byte* p);
std::uint64_t load_u64(const std::byte* p);

} // namespace timmd::tensors

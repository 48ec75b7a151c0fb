// Central-directory reader for the zip archives written by torch.save and numpy.savez.
//
// Only what those writers produce is accepted: a single-disk archive, no encryption, STORED or
// DEFLATED records, optional zip64 fields. Every entry's local header and data must lie before
// the central directory and no two entries may overlap; names must be relative paths without
// "..", backslashes or NUL. Nothing is extracted to disk.
#pragma once

#include "daemon/tensors/byte_source.hpp"
#include "daemon/tensors/checkpoint.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace timmd::tensors {

struct ZipEntry {
  std::string name;
  std::uint16_t method = 0;  // k_zip_stored or k_zip_deflated
  std::uint32_t crc32 = 0;
  std::uint64_t compressed_size = 0;
  std::uint64_t uncompressed_size = 0;
  std::uint64_t local_header_offset = 0;
  // First byte of the (possibly compressed) data in the archive.
  std::uint64_t data_offset = 0;
};

inline constexpr std::uint16_t k_zip_stored = 0;
inline constexpr std::uint16_t k_zip_deflated = 8;

class ZipArchive {
public:
  // Reads the end records, the central directory and each entry's local header. Reads no entry
  // data. Fails with invalid_checkpoint on any bounds, overlap or naming violation.
  static proto::Result<ZipArchive> open(const ByteSource& source, const ReadLimits& limits = {});

  // Entries in central-directory order.
  const std::vector<ZipEntry>& entries() const { return m_entries; }

  // The entry named exactly `name`, or nullptr.
  const ZipEntry* find(std::string_view name) const;

  // Offset of the central directory: every entry's data ends at or before it.
  std::uint64_t central_directory_offset() const { return m_central_directory_offset; }

private:
  std::vector<ZipEntry> m_entries;
  std::uint64_t m_central_directory_offset = 0;
};

// Returns the first `max_bytes` bytes of an entry's content (fewer if the entry is shorter),
// inflating DEFLATED data as needed. Fails on corrupt deflate streams and on content longer
// than the entry's declared uncompressed size.
proto::Result<std::vector<std::byte>> read_zip_entry_prefix(const ByteSource& source,
                                                            const ZipEntry& entry,
                                                            std::uint64_t max_bytes);

// Returns the whole content of an entry and checks its CRC-32. `limit` bounds the inflated size,
// so a zip bomb ends in invalid_checkpoint instead of exhausting memory.
proto::Result<std::vector<std::byte>> read_zip_entry(const ByteSource& source, const ZipEntry& entry,
                                                     std::uint64_t limit);

} // namespace timmd::tensors

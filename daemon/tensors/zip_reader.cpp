#include "daemon/tensors/zip_reader.hpp"

#include <zlib.h>

#include <algorithm>
#include <memory>
#include <set>

namespace timmd::tensors {
namespace {

constexpr std::uint32_t k_end_signature = 0x06054b50;
constexpr std::uint32_t k_zip64_end_signature = 0x06064b50;
constexpr std::uint32_t k_zip64_locator_signature = 0x07064b50;
constexpr std::uint32_t k_central_signature = 0x02014b50;
constexpr std::uint32_t k_local_signature = 0x04034b50;
constexpr std::uint64_t k_end_size = 22;
constexpr std::uint64_t k_zip64_locator_size = 20;
constexpr std::uint64_t k_zip64_end_size = 56;
constexpr std::uint64_t k_central_size = 46;
constexpr std::uint64_t k_local_size = 30;
constexpr std::uint64_t k_max_comment = 0xFFFF;

struct EndRecord {
  std::uint64_t position = 0;
  std::uint64_t entries = 0;
  std::uint64_t directory_size = 0;
  std::uint64_t directory_offset = 0;
};

proto::Result<EndRecord> find_end_record(const ByteSource& source) {
  const auto& name = source.name();
  if (source.size() < k_end_size) {
    return invalid_checkpoint(name, "too short for a zip archive (" + std::to_string(source.size()) +
                                        " bytes)");
  }
  // Writers without an archive comment (torch.save, numpy) put the record in the last 22 bytes.
  // The comment window is read only otherwise, so storage data stays untouched.
  auto tail = source.read_vector(source.size() - k_end_size, k_end_size);
  if (!tail) {
    return tail.error();
  }
  auto window = k_end_size;
  if (load_u32(tail->data()) != k_end_signature || load_u16(tail->data() + 20) != 0) {
    window = std::min(source.size(), k_end_size + k_max_comment);
    tail = source.read_vector(source.size() - window, window);
    if (!tail) {
      return tail.error();
    }
  }

  // The end record is the last signature whose comment reaches exactly to the end of the file.
  for (std::size_t i = tail->size() - k_end_size + 1; i-- > 0;) {
    const auto* p = tail->data() + i;
    if (load_u32(p) != k_end_signature || i + k_end_size + load_u16(p + 20) != tail->size()) {
      continue;
    }
    if (load_u16(p + 4) != 0 || load_u16(p + 6) != 0 || load_u16(p + 8) != load_u16(p + 10)) {
      return unsupported_format(name, "multi-disk zip archives are not supported");
    }
    EndRecord end;
    end.position = source.size() - window + i;
    end.entries = load_u16(p + 10);
    end.directory_size = load_u32(p + 12);
    end.directory_offset = load_u32(p + 16);
    return end;
  }
  return invalid_checkpoint(name, "no zip end-of-central-directory record at the end of the "
                                  "file (truncated, or trailing bytes after the archive)");
}

proto::Result<void> apply_zip64_end(const ByteSource& source, EndRecord& end) {
  const auto& name = source.name();
  if (end.position < k_zip64_locator_size) {
    return invalid_checkpoint(name, "zip64 fields are set but there is no zip64 locator");
  }
  auto locator = source.read_vector(end.position - k_zip64_locator_size, k_zip64_locator_size);
  if (!locator) {
    return locator.error();
  }
  if (load_u32(locator->data()) != k_zip64_locator_signature) {
    return invalid_checkpoint(name, "zip64 fields are set but the zip64 locator signature is "
                                    "missing");
  }

  const auto record_offset = load_u64(locator->data() + 8);
  if (!range_fits(record_offset, k_zip64_end_size, end.position - k_zip64_locator_size)) {
    return invalid_checkpoint(name, "zip64 end record offset " + std::to_string(record_offset) +
                                        " is out of range");
  }
  auto record = source.read_vector(record_offset, k_zip64_end_size);
  if (!record) {
    return record.error();
  }

  const auto* p = record->data();
  if (load_u32(p) != k_zip64_end_signature) {
    return invalid_checkpoint(name, "zip64 end record signature is missing at offset " +
                                        std::to_string(record_offset));
  }
  if (load_u32(p + 16) != 0 || load_u32(p + 20) != 0 || load_u64(p + 24) != load_u64(p + 32)) {
    return unsupported_format(name, "multi-disk zip archives are not supported");
  }

  end.entries = load_u64(p + 32);
  end.directory_size = load_u64(p + 40);
  end.directory_offset = load_u64(p + 48);
  end.position = record_offset;
  return {};
}

bool has_zip64_locator(const ByteSource& source, std::uint64_t end_position) {
  if (end_position < k_zip64_locator_size) {
    return false;
  }
  auto signature = source.read_vector(end_position - k_zip64_locator_size, 4);
  return signature && load_u32(signature->data()) == k_zip64_locator_signature;
}

bool is_safe_name(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.find('\\') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos || name.find(':') != std::string_view::npos) {
    return false;
  }
  std::size_t begin = 0;
  while (begin <= name.size()) {
    const auto end = std::min(name.find('/', begin), name.size());
    const auto part = name.substr(begin, end - begin);
    if (part == ".." || part == ".") {
      return false;
    }
    begin = end + 1;
  }
  return true;
}

// Reads the zip64 extended-information extra field (id 1): each 64-bit value is present only
// when its 32-bit field in the fixed record is 0xFFFFFFFF, in the order given by the spec.
proto::Result<void> apply_zip64_extra(std::span<const std::byte> extra, ZipEntry& entry,
                                      bool need_usize, bool need_csize, bool need_offset,
                                      const std::string& source) {
  std::size_t pos = 0;
  while (pos + 4 <= extra.size()) {
    const auto id = load_u16(extra.data() + pos);
    const auto size = load_u16(extra.data() + pos + 2);
    if (size > extra.size() - pos - 4) {
      return invalid_checkpoint(source, "zip entry \"" + entry.name + "\": extra field overruns");
    }
    if (id == 1) {
      std::size_t field = pos + 4;
      const auto end = field + size;
      for (auto [needed, target] : {std::pair{need_usize, &entry.uncompressed_size},
                                    std::pair{need_csize, &entry.compressed_size},
                                    std::pair{need_offset, &entry.local_header_offset}}) {
        if (!needed) {
          continue;
        }
        if (field + 8 > end) {
          return invalid_checkpoint(source, "zip entry \"" + entry.name +
                                                "\": zip64 extra field is too short");
        }
        *target = load_u64(extra.data() + field);
        field += 8;
      }
      return {};
    }
    pos += 4 + size;
  }
  if (need_usize || need_csize || need_offset) {
    return invalid_checkpoint(source, "zip entry \"" + entry.name +
                                          "\" has 32-bit fields set to 0xFFFFFFFF but no zip64 "
                                          "extra field");
  }
  return {};
}

proto::Result<ZipEntry> parse_central_entry(std::span<const std::byte> directory, std::size_t& pos,
                                            const std::string& source) {
  if (directory.size() - pos < k_central_size || load_u32(directory.data() + pos) != k_central_signature) {
    return invalid_checkpoint(source, "central directory entry at directory offset " +
                                          std::to_string(pos) + " is truncated or has a bad signature");
  }
  const auto* p = directory.data() + pos;
  const auto flags = load_u16(p + 8);
  ZipEntry entry;
  entry.method = load_u16(p + 10);
  entry.crc32 = load_u32(p + 16);
  entry.compressed_size = load_u32(p + 20);
  entry.uncompressed_size = load_u32(p + 24);
  const std::size_t name_length = load_u16(p + 28);
  const std::size_t extra_length = load_u16(p + 30);
  const std::size_t comment_length = load_u16(p + 32);
  entry.local_header_offset = load_u32(p + 42);
  if (directory.size() - pos - k_central_size < name_length + extra_length + comment_length) {
    return invalid_checkpoint(source, "central directory entry at directory offset " +
                                          std::to_string(pos) + " overruns the directory");
  }
  const auto* name = reinterpret_cast<const char*>(p + k_central_size);
  entry.name.assign(name, name_length);

  if ((flags & 0x1U) != 0) {
    return unsupported_format(source, "zip entry \"" + entry.name + "\" is encrypted");
  }
  if (entry.method != k_zip_stored && entry.method != k_zip_deflated) {
    return unsupported_format(source, "zip entry \"" + entry.name + "\" uses compression method " +
                                          std::to_string(entry.method) +
                                          "; only STORED (0) and DEFLATED (8) are read");
  }
  const auto extra = directory.subspan(pos + k_central_size + name_length, extra_length);
  auto zip64 = apply_zip64_extra(extra, entry, entry.uncompressed_size == 0xFFFFFFFF,
                                 entry.compressed_size == 0xFFFFFFFF,
                                 entry.local_header_offset == 0xFFFFFFFF, source);
  if (!zip64) {
    return zip64.error();
  }
  pos += k_central_size + name_length + extra_length + comment_length;
  return entry;
}

proto::Result<void> locate_data(const ByteSource& source, ZipEntry& entry, std::uint64_t limit) {
  const auto& name = source.name();
  const auto where = "zip entry \"" + entry.name + "\"";
  // The fixed header and the name the central directory promises, in one read.
  const auto header_size = k_local_size + entry.name.size();
  if (!range_fits(entry.local_header_offset, header_size, limit)) {
    return invalid_checkpoint(name, where + ": local header offset " +
                                        std::to_string(entry.local_header_offset) +
                                        " is outside the archive data");
  }
  auto header = source.read_vector(entry.local_header_offset, header_size);
  if (!header) {
    return header.error();
  }
  if (load_u32(header->data()) != k_local_signature) {
    return invalid_checkpoint(name, where + ": no local header signature at offset " +
                                        std::to_string(entry.local_header_offset));
  }

  const auto name_length = load_u16(header->data() + 26);
  const auto extra_length = load_u16(header->data() + 28);
  const auto local_name = std::span<const std::byte>(*header).subspan(k_local_size);
  const bool same_name = name_length == entry.name.size() &&
                         std::equal(local_name.begin(), local_name.end(), entry.name.begin(),
                                    entry.name.end(),
                                    [](std::byte b, char c) { return static_cast<char>(b) == c; });
  if (!same_name) {
    return invalid_checkpoint(name, where + ": local header name differs from the central "
                                            "directory");
  }

  entry.data_offset = entry.local_header_offset + k_local_size + name_length + extra_length;
  if (!range_fits(entry.data_offset, entry.compressed_size, limit)) {
    return invalid_checkpoint(name, where + ": data of " + std::to_string(entry.compressed_size) +
                                        " bytes at offset " + std::to_string(entry.data_offset) +
                                        " reaches past the central directory");
  }
  if (entry.method == k_zip_stored && entry.compressed_size != entry.uncompressed_size) {
    return invalid_checkpoint(name, where + " is STORED but its compressed and uncompressed "
                                            "sizes differ");
  }
  return {};
}

proto::Result<void> check_entries(const std::vector<ZipEntry>& entries, const std::string& source) {
  std::set<std::string_view> names;
  for (const auto& entry : entries) {
    if (!is_safe_name(entry.name)) {
      return invalid_checkpoint(source, "zip entry name \"" + entry.name.substr(0, 200) +
                                            "\" is absolute or contains \"..\", \".\", \"\\\", "
                                            "':' or NUL");
    }
    if (!names.insert(entry.name).second) {
      return invalid_checkpoint(source, "duplicate zip entry \"" + entry.name + "\"");
    }
  }

  std::vector<const ZipEntry*> by_offset;
  by_offset.reserve(entries.size());
  for (const auto& entry : entries) {
    by_offset.push_back(&entry);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return a->local_header_offset < b->local_header_offset;
  });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const auto* previous = by_offset[i - 1];
    if (previous->data_offset + previous->compressed_size > by_offset[i]->local_header_offset) {
      return invalid_checkpoint(source, "zip entries \"" + previous->name + "\" and \"" +
                                            by_offset[i]->name + "\" overlap");
    }
  }
  return {};
}

} // namespace

proto::Result<ZipArchive> ZipArchive::open(const ByteSource& source, const ReadLimits& limits) {
  const auto& name = source.name();
  auto end = find_end_record(source);
  if (!end) {
    return end.error();
  }
  // torch.save writes zip64 end records even for small archives; their values then win.
  const bool saturated = end->entries == 0xFFFF || end->directory_size == 0xFFFFFFFF ||
                         end->directory_offset == 0xFFFFFFFF;
  if (saturated || has_zip64_locator(source, end->position)) {
    if (auto zip64 = apply_zip64_end(source, *end); !zip64) {
      return zip64.error();
    }
  }
  if (end->entries > limits.max_zip_entries) {
    return invalid_checkpoint(name, "zip archive declares " + std::to_string(end->entries) +
                                        " entries, more than the limit of " +
                                        std::to_string(limits.max_zip_entries));
  }
  if (!range_fits(end->directory_offset, end->directory_size, end->position) ||
      end->directory_offset + end->directory_size != end->position) {
    return invalid_checkpoint(name, "central directory (" + std::to_string(end->directory_size) +
                                        " bytes at offset " + std::to_string(end->directory_offset) +
                                        ") does not end where the end record starts (" +
                                        std::to_string(end->position) + ")");
  }
  if (end->entries > end->directory_size / k_central_size) {
    return invalid_checkpoint(name, "zip archive declares " + std::to_string(end->entries) +
                                        " entries but its central directory holds at most " +
                                        std::to_string(end->directory_size / k_central_size));
  }

  auto directory = source.read_vector(end->directory_offset, end->directory_size);
  if (!directory) {
    return directory.error();
  }
  ZipArchive archive;
  archive.m_central_directory_offset = end->directory_offset;
  archive.m_entries.reserve(static_cast<std::size_t>(end->entries));
  std::size_t pos = 0;
  for (std::uint64_t i = 0; i < end->entries; ++i) {
    auto entry = parse_central_entry(*directory, pos, name);
    if (!entry) {
      return entry.error();
    }
    archive.m_entries.push_back(std::move(*entry));
  }
  if (pos != directory->size()) {
    return invalid_checkpoint(name, "central directory has " +
                                        std::to_string(directory->size() - pos) +
                                        " bytes after its last declared entry");
  }
  for (auto& entry : archive.m_entries) {
    if (auto located = locate_data(source, entry, end->directory_offset); !located) {
      return located.error();
    }
  }
  if (auto checked = check_entries(archive.m_entries, name); !checked) {
    return checked.error();
  }
  return archive;
}

const ZipEntry* ZipArchive::find(std::string_view name) const {
  for (const auto& entry : m_entries) {
    if (entry.name == name) {
      return &entry;
    }
  }
  return nullptr;
}

namespace {

struct InflateStream {
  z_stream stream{};
  bool initialised = false;
  ~InflateStream() {
    if (initialised) {
      inflateEnd(&stream);
    }
  }
};

// Inflates until `max_bytes` are produced or the stream ends. `complete` reports a clean end.
proto::Result<std::vector<std::byte>> inflate_entry(const ByteSource& source, const ZipEntry& entry,
                                                    std::uint64_t max_bytes, bool& complete) {
  const auto& name = source.name();
  const auto where = "zip entry \"" + entry.name + "\"";
  InflateStream z;
  if (inflateInit2(&z.stream, -MAX_WBITS) != Z_OK) {
    return proto::make_error(proto::Errc::internal, name + ": zlib inflateInit2 failed");
  }
  z.initialised = true;

  constexpr std::uint64_t k_chunk = 1U << 16U;
  std::vector<std::byte> out;
  std::vector<std::byte> in;
  std::uint64_t consumed = 0;
  complete = false;
  while (out.size() < max_bytes) {
    if (z.stream.avail_in == 0) {
      const auto n = std::min(k_chunk, entry.compressed_size - consumed);
      if (n == 0) {
        return invalid_checkpoint(name, where + ": deflate stream is truncated");
      }
      auto chunk = source.read_vector(entry.data_offset + consumed, n);
      if (!chunk) {
        return chunk.error();
      }
      in = std::move(*chunk);
      consumed += n;
      z.stream.next_in = reinterpret_cast<Bytef*>(in.data());
      z.stream.avail_in = static_cast<uInt>(in.size());
    }
    const auto before = out.size();
    const auto room = std::min(k_chunk, max_bytes - before);
    out.resize(static_cast<std::size_t>(before + room));
    z.stream.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    z.stream.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&z.stream, Z_NO_FLUSH);
    out.resize(static_cast<std::size_t>(before + room - z.stream.avail_out));
    if (rc == Z_STREAM_END) {
      complete = true;
      break;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return invalid_checkpoint(name, where + ": corrupt deflate data (" +
                                          std::string(z.stream.msg ? z.stream.msg : "zlib error") +
                                          ")");
    }
  }
  return out;
}

} // namespace

proto::Result<std::vector<std::byte>> read_zip_entry_prefix(const ByteSource& source,
                                                            const ZipEntry& entry,
                                                            std::uint64_t max_bytes) {
  if (entry.method == k_zip_stored) {
    return source.read_vector(entry.data_offset, std::min(max_bytes, entry.uncompressed_size));
  }
  bool complete = false;
  return inflate_entry(source, entry, std::min(max_bytes, entry.uncompressed_size), complete);
}

proto::Result<std::vector<std::byte>> read_zip_entry(const ByteSource& source, const ZipEntry& entry,
                                                     std::uint64_t limit) {
  const auto where = "zip entry \"" + entry.name + "\"";
  if (entry.uncompressed_size > limit) {
    return invalid_checkpoint(source.name(), where + " inflates to " +
                                                 std::to_string(entry.uncompressed_size) +
                                                 " bytes, more than the limit of " +
                                                 std::to_string(limit) +
                                                 " (ReadLimits::max_inflated_bytes)");
  }
  proto::Result<std::vector<std::byte>> content = std::vector<std::byte>{};
  if (entry.method == k_zip_stored) {
    content = source.read_vector(entry.data_offset, entry.compressed_size);
  } else {
    // One byte more than declared exposes a stream that inflates past its declared size.
    bool complete = false;
    content = inflate_entry(source, entry, entry.uncompressed_size + 1, complete);
    if (content && (!complete || content->size() != entry.uncompressed_size)) {
      return invalid_checkpoint(source.name(), where + ": inflated size differs from the declared " +
                                                   std::to_string(entry.uncompressed_size) +
                                                   " bytes");
    }
  }
  if (!content) {
    return content.error();
  }
  const auto crc = crc32_z(0L, reinterpret_cast<const Bytef*>(content->data()), content->size());
  if (crc != entry.crc32) {
    return invalid_checkpoint(source.name(), where + ": CRC-32 mismatch (corrupt data)");
  }
  return content;
}

} // namespace timmd::tensors

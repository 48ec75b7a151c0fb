#include "daemon/tensors/npy_reader.hpp"

#include "daemon/tensors/zip_reader.hpp"

#include <array>
#include <charconv>
#include <cstring>
#include <set>

namespace timmd::tensors {
namespace {

constexpr std::string_view k_magic = "\x93NUMPY";

struct DescrRow {
  std::string_view code;  // type code without the byte-order character
  Dtype dtype;
};

constexpr std::array<DescrRow, 13> k_descrs{{
  {"b1", Dtype::boolean}, {"u1", Dtype::u8},  {"i1", Dtype::i8},  {"i2", Dtype::i16},
  {"u2", Dtype::u16},     {"f2", Dtype::f16}, {"i4", Dtype::i32}, {"u4", Dtype::u32},
  {"f4", Dtype::f32},     {"i8", Dtype::i64}, {"u8", Dtype::u64}, {"f8", Dtype::f64},
  {"c8", Dtype::c64},
}};

// Tokenizer for the Python literal of an .npy header: strings, True/False, integers, punctuation.
class Literal {
public:
  explicit Literal(std::string_view text) : m_text(text) {}

  void skip_space() {
    while (m_pos < m_text.size() && (m_text[m_pos] == ' ' || m_text[m_pos] == '\n')) {
      ++m_pos;
    }
  }
  bool accept(char c) {
    skip_space();
    if (m_pos < m_text.size() && m_text[m_pos] == c) {
      ++m_pos;
      return true;
    }
    return false;
  }
  std::optional<std::string> string() {
    skip_space();
    if (m_pos >= m_text.size() || (m_text[m_pos] != '\'' && m_text[m_pos] != '"')) {
      return std::nullopt;
    }
    const char quote = m_text[m_pos];
    const auto end = m_text.find(quote, m_pos + 1);
    if (end == std::string_view::npos) {
      return std::nullopt;
    }
    auto value = std::string(m_text.substr(m_pos + 1, end - m_pos - 1));
    m_pos = end + 1;
    return value;
  }
  std::optional<bool> boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair{std::string_view("True"), true},
                                      std::pair{std::string_view("False"), false}}) {
      if (m_text.substr(m_pos).starts_with(word)) {
        m_pos += word.size();
        return value;
      }
    }
    return std::nullopt;
  }
  std::optional<std::uint64_t> integer() {
    skip_space();
    std::uint64_t value = 0;
    const auto* begin = m_text.data() + m_pos;
    const auto [ptr, ec] = std::from_chars(begin, m_text.data() + m_text.size(), value);
    if (ec != std::errc{} || ptr == begin) {
      return std::nullopt;
    }
    m_pos += static_cast<std::size_t>(ptr - begin);
    if (m_pos < m_text.size() && m_text[m_pos] == 'L') {  // Python 2 long suffix
      ++m_pos;
    }
    return value;
  }
  bool at_end() {
    skip_space();
    return m_pos == m_text.size();
  }

private:
  std::string_view m_text;
  std::size_t m_pos = 0;
};

proto::Result<std::vector<std::uint64_t>> parse_shape(Literal& literal, const std::string& source) {
  std::vector<std::uint64_t> shape;
  if (!literal.accept('(')) {
    return invalid_checkpoint(source, ".npy header: 'shape' is not a tuple");
  }
  while (!literal.accept(')')) {
    const auto dim = literal.integer();
    if (!dim) {
      return invalid_checkpoint(source, ".npy header: 'shape' holds something other than "
                                        "non-negative integers");
    }
    shape.push_back(*dim);
    if (shape.size() > 64) {
      return invalid_checkpoint(source, ".npy header: 'shape' has more than 64 dimensions");
    }
    if (!literal.accept(',')) {
      if (!literal.accept(')')) {
        return invalid_checkpoint(source, ".npy header: 'shape' tuple is not closed");
      }
      break;
    }
  }
  return shape;
}

proto::Result<Dtype> parse_descr(const std::string& descr, const std::string& source) {
  if (descr.size() >= 2) {
    const char order = descr[0];
    const auto code = std::string_view(descr).substr(1);
    for (const auto& row : k_descrs) {
      if (row.code != code) {
        continue;
      }
      const bool single_byte = bit_width(row.dtype) == 8;
      if (order == '<' || (order == '|' && single_byte)) {
        return row.dtype;
      }
      if (order == '>') {
        return unsupported_format(source, ".npy dtype '" + descr +
                                              "' is big-endian; convert it with "
                                              "array.astype(array.dtype.newbyteorder('<'))");
      }
    }
  }
  return unsupported_format(source, ".npy dtype '" + descr.substr(0, 100) +
                                        "' is not supported (object, structured, string, float128 "
                                        "and complex128 arrays are not read)");
}

} // namespace

proto::Result<NpyHeader> parse_npy_header(std::span<const std::byte> prefix, const std::string& source) {
  if (prefix.size() < 10 || std::memcmp(prefix.data(), k_magic.data(), k_magic.size()) != 0) {
    return invalid_checkpoint(source, "not an .npy array: the magic \"\\x93NUMPY\" is missing");
  }
  const auto major = std::to_integer<unsigned>(prefix[6]);
  if (major < 1 || major > 3) {
    return unsupported_format(source, ".npy format version " + std::to_string(major) +
                                          " is not 1, 2 or 3");
  }
  const std::uint64_t length_bytes = major == 1 ? 2 : 4;
  if (prefix.size() < 8 + length_bytes) {
    return invalid_checkpoint(source, ".npy header is truncated");
  }
  const std::uint64_t header_length =
    major == 1 ? load_u16(prefix.data() + 8) : load_u32(prefix.data() + 8);
  const auto header_start = 8 + length_bytes;
  if (header_length > k_max_npy_header) {
    return invalid_checkpoint(source, ".npy header length " + std::to_string(header_length) +
                                          " exceeds the limit of " + std::to_string(k_max_npy_header));
  }
  if (prefix.size() - header_start < header_length) {
    return invalid_checkpoint(source, ".npy header of " + std::to_string(header_length) +
                                          " bytes is truncated");
  }
  const std::string_view text(reinterpret_cast<const char*>(prefix.data() + header_start),
                              static_cast<std::size_t>(header_length));
  if (text.empty() || text.back() != '\n') {
    return invalid_checkpoint(source, ".npy header does not end with a newline");
  }

  NpyHeader header;
  header.data_offset = header_start + header_length;
  Literal literal(text);
  std::set<std::string> seen;
  std::optional<std::string> descr;
  bool has_shape = false;
  if (!literal.accept('{')) {
    return invalid_checkpoint(source, ".npy header is not a dict literal");
  }
  while (!literal.accept('}')) {
    const auto key = literal.string();
    if (!key || !literal.accept(':')) {
      return invalid_checkpoint(source, ".npy header: expected 'key': value");
    }
    if (!seen.insert(*key).second) {
      return invalid_checkpoint(source, ".npy header repeats the key '" + *key + "'");
    }
    if (*key == "descr") {
      descr = literal.string();
      if (!descr) {
        return unsupported_format(source, ".npy 'descr' is not a simple dtype string "
                                          "(structured arrays are not read)");
      }
    } else if (*key == "fortran_order") {
      const auto value = literal.boolean();
      if (!value) {
        return invalid_checkpoint(source, ".npy header: 'fortran_order' is not True or False");
      }
      header.fortran_order = *value;
    } else if (*key == "shape") {
      auto shape = parse_shape(literal, source);
      if (!shape) {
        return shape.error();
      }
      header.shape = std::move(*shape);
      has_shape = true;
    } else {
      return invalid_checkpoint(source, ".npy header has the unexpected key '" + key->substr(0, 100) + "'");
    }
    if (!literal.accept(',')) {
      if (!literal.accept('}')) {
        return invalid_checkpoint(source, ".npy header dict is not closed");
      }
      break;
    }
  }
  if (!literal.at_end()) {
    return invalid_checkpoint(source, ".npy header has text after the dict");
  }
  if (!descr || !has_shape || !seen.contains("fortran_order")) {
    return invalid_checkpoint(source, ".npy header lacks 'descr', 'fortran_order' or 'shape'");
  }
  auto dtype = parse_descr(*descr, source);
  if (!dtype) {
    return dtype.error();
  }
  header.dtype = *dtype;
  const auto bytes = contiguous_byte_size(header.dtype, header.shape);
  if (!bytes) {
    return invalid_checkpoint(source, ".npy shape overflows 64 bits");
  }
  header.data_bytes = *bytes;
  return header;
}

namespace {

TensorInfo tensor_from_header(std::string name, const NpyHeader& header) {
  TensorInfo info;
  info.name = std::move(name);
  info.dtype = header.dtype;
  info.shape = header.shape;
  info.length = header.data_bytes;
  info.strides = row_major_strides(header.shape);
  if (header.fortran_order) {
    std::uint64_t stride = 1;
    std::size_t non_trivial = 0;
    for (std::size_t i = 0; i < header.shape.size(); ++i) {
      info.strides[i] = stride;
      stride *= header.shape[i] == 0 ? std::uint64_t{1} : header.shape[i];
      non_trivial += header.shape[i] > 1 ? std::size_t{1} : std::size_t{0};
    }
    info.contiguous = non_trivial <= 1;
  }
  return info;
}

} // namespace

proto::Result<Checkpoint> read_npy(const ByteSource& source, const ReadLimits& limits) {
  (void)limits;
  auto prefix = source.read_vector(0, std::min(source.size(), k_max_npy_header + 12));
  if (!prefix) {
    return prefix.error();
  }
  auto header = parse_npy_header(*prefix, source.name());
  if (!header) {
    return header.error();
  }
  if (source.size() - header->data_offset != header->data_bytes) {
    return invalid_checkpoint(source.name(), ".npy data is " +
                                                 std::to_string(source.size() - header->data_offset) +
                                                 " bytes but dtype and shape need " +
                                                 std::to_string(header->data_bytes));
  }
  Checkpoint checkpoint;
  checkpoint.format = Format::numpy_npy;
  checkpoint.header_bytes = header->data_offset;
  auto info = tensor_from_header("array", *header);
  info.offset = header->data_offset;
  info.alignment = offset_alignment(info.offset);
  checkpoint.tensors.push_back(std::move(info));
  return checkpoint;
}

proto::Result<Checkpoint> read_npz(const ByteSource& source, const ReadLimits& limits) {
  const auto& name = source.name();
  auto archive = ZipArchive::open(source, limits);
  if (!archive) {
    return archive.error();
  }
  Checkpoint checkpoint;
  checkpoint.format = Format::numpy_npz;
  checkpoint.header_bytes = archive->central_directory_offset();
  for (const auto& entry : archive->entries()) {
    const auto where = name + " (member \"" + entry.name + "\")";
    if (!entry.name.ends_with(".npy")) {
      return invalid_checkpoint(name, "npz member \"" + entry.name + "\" is not an .npy array");
    }
    if (entry.uncompressed_size > limits.max_inflated_bytes) {
      return invalid_checkpoint(where, "declares " + std::to_string(entry.uncompressed_size) +
                                           " bytes, more than the limit of " +
                                           std::to_string(limits.max_inflated_bytes) +
                                           " (ReadLimits::max_inflated_bytes)");
    }
    auto prefix = read_zip_entry_prefix(source, entry, k_max_npy_header + 12);
    if (!prefix) {
      return prefix.error();
    }
    auto header = parse_npy_header(*prefix, where);
    if (!header) {
      return header.error();
    }
    if (entry.uncompressed_size < header->data_offset ||
        entry.uncompressed_size - header->data_offset != header->data_bytes) {
      return invalid_checkpoint(where, "holds " + std::to_string(entry.uncompressed_size) +
                                           " bytes but its header and data need " +
                                           std::to_string(header->data_offset + header->data_bytes));
    }
    auto info = tensor_from_header(entry.name.substr(0, entry.name.size() - 4), *header);
    if (entry.method == k_zip_stored) {
      info.offset = entry.data_offset + header->data_offset;
    } else {
      info.offset = entry.data_offset;
      info.length = entry.compressed_size;
      info.deflated = true;
      info.inflated_offset = header->data_offset;
    }
    info.alignment = offset_alignment(info.offset);
    checkpoint.tensors.push_back(std::move(info));
  }
  if (checkpoint.tensors.empty()) {
    return invalid_checkpoint(name, "npz archive holds no arrays");
  }
  return checkpoint;
}

} // namespace timmd::tensors

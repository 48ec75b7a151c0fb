#include "daemon/tensors/safetensors_reader.hpp"

#include "daemon/tensors/safetensors_header.hpp"

#include <algorithm>
#include <string_view>
#include <vector>

namespace timmd::tensors {
namespace {

std::string quote_name(std::string_view s) {
  return "\"" + std::string(s.substr(0, 200)) + (s.size() > 200 ? "...\"" : "\"");
}

proto::Result<TensorInfo> validate_tensor(detail::RawTensor&& raw, std::uint64_t data_start,
                                          const std::string& source, const ReadLimits& limits) {
  const auto where = "tensor " + quote_name(raw.name);
  if (!raw.has_dtype || !raw.has_shape || !raw.has_offsets) {
    std::string missing = "data_offsets";
    if (!raw.has_dtype) {
      missing = "dtype";
    } else if (!raw.has_shape) {
      missing = "shape";
    }
    return invalid_checkpoint(source, where + " has no \"" + missing + "\"");
  }
  if (!raw.dtype) {
    return invalid_checkpoint(source, where + " has unknown dtype " + raw.dtype_text +
                                          " (expected BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, "
                                          "U16, F16, BF16, I32, U32, F32, F64, I64, U64, C64, F4, "
                                          "F6_E2M3 or F6_E3M2)");
  }
  if (raw.shape.size() > limits.max_dimensions) {
    return invalid_checkpoint(source, where + " has " + std::to_string(raw.shape.size()) +
                                          " dimensions, more than the limit of " +
                                          std::to_string(limits.max_dimensions));
  }
  const auto& offsets = raw.offsets;
  if (offsets.size() != 2 || offsets[0] > offsets[1]) {
    return invalid_checkpoint(source, where + ": \"data_offsets\" must be [begin, end] with "
                                              "begin <= end, got " +
                                          detail::to_json_text(offsets));
  }

  const auto shape_text = detail::to_json_text(raw.shape);
  if (!element_count(raw.shape)) {
    return invalid_checkpoint(source, where + ": element count of shape " + shape_text +
                                          " overflows 64 bits");
  }
  const auto dtype_name = std::string(safetensors_name(*raw.dtype));
  const auto nbytes = contiguous_byte_size(*raw.dtype, raw.shape);
  if (!nbytes) {
    return invalid_checkpoint(source, where + ": " + dtype_name + " elements of shape " + shape_text +
                                          " do not fill a whole number of bytes (or overflow)");
  }
  const auto span = offsets[1] - offsets[0];
  if (span != *nbytes) {
    return invalid_checkpoint(source, where + ": dtype " + dtype_name + " and shape " + shape_text +
                                          " need " + std::to_string(*nbytes) +
                                          " bytes but data_offsets " + detail::to_json_text(offsets) +
                                          " span " + std::to_string(span));
  }

  TensorInfo info;
  info.name = std::move(raw.name);
  info.dtype = *raw.dtype;
  info.strides = row_major_strides(raw.shape);
  info.shape = std::move(raw.shape);
  info.length = span;
  // This may wrap for a hostile begin. check_tiling subtracts data_start again and rejects any
  // begin past the data buffer before the offset is used.
  info.offset = data_start + offsets[0];
  return info;
}

proto::Result<void> check_tiling(std::vector<TensorInfo>& tensors, std::uint64_t data_start,
                                 std::uint64_t data_size, const std::string& source) {
  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.length < b.length;
  });

  std::uint64_t expected = 0;
  for (const auto& tensor : tensors) {
    const auto begin = tensor.offset - data_start;
    if (begin > expected) {
      return invalid_checkpoint(source, "gap in the data buffer: tensor " + quote_name(tensor.name) +
                                            " starts at data offset " + std::to_string(begin) +
                                            " but the previous tensor ends at " +
                                            std::to_string(expected));
    }
    if (begin < expected) {
      return invalid_checkpoint(source, "tensor " + quote_name(tensor.name) + " at data offset " +
                                            std::to_string(begin) +
                                            " overlaps the previous tensor, which ends at " +
                                            std::to_string(expected));
    }
    if (tensor.length > data_size - expected) {
      return invalid_checkpoint(source, "tensor " + quote_name(tensor.name) + " ends at data offset " +
                                            std::to_string(begin + tensor.length) +
                                            ", past the end of the file (data buffer is " +
                                            std::to_string(data_size) + " bytes)");
    }
    expected = begin + tensor.length;
  }
  if (expected != data_size) {
    return invalid_checkpoint(source, std::to_string(data_size - expected) +
                                          " trailing bytes after the last tensor (data ends at " +
                                          std::to_string(expected) + ", file data buffer is " +
                                          std::to_string(data_size) + " bytes)");
  }
  return {};
}

} // namespace

std::optional<std::size_t> find_invalid_utf8(std::span<const std::byte> bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto c = std::to_integer<unsigned>(bytes[i]);
    std::size_t extra = 0;
    unsigned min_second = 0x80;
    unsigned max_second = 0xBF;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      min_second = c == 0xE0 ? 0xA0 : 0x80;  // overlong
      max_second = c == 0xED ? 0x9F : 0xBF;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      min_second = c == 0xF0 ? 0x90 : 0x80;
      max_second = c == 0xF4 ? 0x8F : 0xBF;
    } else {
      return i;
    }
    if (bytes.size() - i <= extra) {
      return i;
    }
    const auto second = std::to_integer<unsigned>(bytes[i + 1]);
    if (second < min_second || second > max_second) {
      return i;
    }
    for (std::size_t k = 2; k <= extra; ++k) {
      if ((std::to_integer<unsigned>(bytes[i + k]) & 0xC0U) != 0x80U) {
        return i;
      }
    }
    i += extra + 1;
  }
  return std::nullopt;
}

proto::Result<Checkpoint> parse_safetensors_header(std::span<const std::byte> json,
                                                   std::uint64_t data_start, std::uint64_t file_size,
                                                   const std::string& source,
                                                   const ReadLimits& limits) {
  if (const auto bad = find_invalid_utf8(json)) {
    return invalid_checkpoint(source, "header is not valid UTF-8 (byte " +
                                          std::to_string(*bad + 8) + " of the file)");
  }
  if (json.empty()) {
    return invalid_checkpoint(source, "header length is 0; a safetensors header is a JSON object "
                                      "of at least 2 bytes");
  }
  if (json[0] != std::byte{'{'}) {
    return invalid_checkpoint(source, "header does not start with '{'; a safetensors header is a "
                                      "JSON object");
  }
  const std::string_view text(reinterpret_cast<const char*>(json.data()), json.size());
  std::string problem;
  auto raw = detail::parse_raw_header(text, problem);
  if (!raw) {
    return invalid_checkpoint(source, problem);
  }
  if (raw->tensors.size() > limits.max_tensors) {
    return invalid_checkpoint(source, std::to_string(raw->tensors.size()) +
                                          " tensors, more than the limit of " +
                                          std::to_string(limits.max_tensors) +
                                          " (ReadLimits::max_tensors)");
  }

  Checkpoint checkpoint;
  checkpoint.format = Format::safetensors;
  checkpoint.header_bytes = data_start;
  checkpoint.metadata = std::move(raw->metadata);
  checkpoint.tensors.reserve(raw->tensors.size());
  for (auto& entry : raw->tensors) {
    auto tensor = validate_tensor(std::move(entry), data_start, source, limits);
    if (!tensor) {
      return tensor.error();
    }
    checkpoint.tensors.push_back(std::move(*tensor));
  }

  auto tiled = check_tiling(checkpoint.tensors, data_start, file_size - data_start, source);
  if (!tiled) {
    return tiled.error();
  }
  for (auto& tensor : checkpoint.tensors) {
    tensor.alignment = offset_alignment(tensor.offset);
  }
  return checkpoint;
}

proto::Result<Checkpoint> read_safetensors(const ByteSource& source, const ReadLimits& limits) {
  const auto& name = source.name();
  if (source.size() < 8) {
    return invalid_checkpoint(name, "file is " + std::to_string(source.size()) +
                                        " bytes; a safetensors file starts with an 8-byte "
                                        "header length");
  }
  auto prefix = source.read_vector(0, 8);
  if (!prefix) {
    return prefix.error();
  }
  if (looks_like_lfs_pointer(*prefix)) {
    return unsupported_format(name, "this is a Git LFS pointer file, not the weights; download "
                                    "the LFS object it names");
  }

  const auto header_length = load_u64(prefix->data());
  if (header_length > limits.max_header_bytes) {
    return invalid_checkpoint(name, "header length " + std::to_string(header_length) +
                                        " exceeds the limit of " +
                                        std::to_string(limits.max_header_bytes) +
                                        " bytes (ReadLimits::max_header_bytes)");
  }
  if (header_length > source.size() - 8) {
    return invalid_checkpoint(name, "header length " + std::to_string(header_length) +
                                        " reaches past the end of the file (" +
                                        std::to_string(source.size()) + " bytes)");
  }
  auto json = source.read_vector(8, header_length);
  if (!json) {
    return json.error();
  }
  return parse_safetensors_header(*json, 8 + header_length, source.size(), name, limits);
}

} // namespace timmd::tensors

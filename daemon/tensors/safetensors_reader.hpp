// Strict reader of the safetensors format.
//
// Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON (an object mapping each
// tensor name to {"dtype", "shape", "data_offsets": [begin, end]}, plus an optional
// "__metadata__" object of strings, padded with trailing spaces), then the data buffer. Offsets
// are relative to the data buffer, and the tensors must tile it from 0 to the end of the file
// with no gap or overlap. The reader also checks the header length against a limit, UTF-8, the
// dtype names, overflow of shapes, each tensor's size against its offsets, and rejects
// duplicate JSON keys.
#pragma once

#include "daemon/tensors/byte_source.hpp"
#include "daemon/tensors/checkpoint.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace timmd::tensors {

// Reads the header of a safetensors file: the first 8 + N bytes and nothing else.
proto::Result<Checkpoint> read_safetensors(const ByteSource& source, const ReadLimits& limits = {});

// Parses the JSON header `json`, whose data buffer starts at `data_start` in a file of
// `file_size` bytes. `source_name` prefixes error messages.
proto::Result<Checkpoint> parse_safetensors_header(std::span<const std::byte> json,
                                                   std::uint64_t data_start, std::uint64_t file_size,
                                                   const std::string& source_name,
                                                   const ReadLimits& limits = {});

// Offset of the first byte that is not valid UTF-8 (overlong forms and surrogates included),
// or nullopt when all of `bytes` is valid.
std::optional<std::size_t> find_invalid_utf8(std::span<const std::byte> bytes);

} // namespace timmd::tensors

// Readers of numpy's .npy files and .npz archives (numpy.save, numpy.savez and
// numpy.savez_compressed).
//
// An .npy file is the magic "\x93NUMPY", a major and minor version byte, the header length
// (2 bytes little-endian for version 1, 4 bytes for versions 2 and 3), a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces and ended by a
// newline, then the array data. Only little-endian numeric and bool dtypes are read; object
// arrays (which hold pickles), structured dtypes and big-endian data are rejected.
#pragma once

#include "daemon/tensors/byte_source.hpp"
#include "daemon/tensors/checkpoint.hpp"

#include <span>

namespace timmd::tensors {

struct NpyHeader {
  Dtype dtype = Dtype::u8;
  std::vector<std::uint64_t> shape;
  bool fortran_order = false;
  // Offset of the array data from the start of the .npy content, and its size in bytes.
  std::uint64_t data_offset = 0;
  std::uint64_t data_bytes = 0;
};

// Maximum header length accepted. A header that names one simple dtype and a shape of at most
// 64 dimensions fits in a few hundred bytes, so 64 KiB only bounds what a hostile file can make
// the parser read.
inline constexpr std::uint64_t k_max_npy_header = 65536;

// Parses the header at the start of `prefix` (which may also hold data). Fails with
// invalid_checkpoint on a malformed header and unsupported_format on dtypes timmd cannot serve.
proto::Result<NpyHeader> parse_npy_header(std::span<const std::byte> prefix, const std::string& source);

// Reads a standalone .npy file as a checkpoint with one tensor named "array".
proto::Result<Checkpoint> read_npy(const ByteSource& source, const ReadLimits& limits = {});

// Reads an .npz archive: one tensor per "<name>.npy" member, named <name>. DEFLATED members are
// inflated only as far as their header; their tensors are marked `deflated`.
proto::Result<Checkpoint> read_npz(const ByteSource& source, const ReadLimits& limits = {});

} // namespace timmd::tensors

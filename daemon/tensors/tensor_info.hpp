// Location, dtype and shape of one tensor of a checkpoint within its file.
#pragma once

#include "daemon/tensors/dtype.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace timmd::tensors {

// A tensor as stored: enough to serve it without parsing the file again.
//
// For raw data, [offset, offset + length) is the byte range of the file that holds every
// element; a contiguous tensor's range holds exactly its elements in row-major order. A strided
// view (PyTorch) spans from its first to its last element and is materialised contiguously by
// read_tensor(). A DEFLATED npz member instead gives the compressed member's range and
// `inflated_offset`, the position of the first element in the inflated stream.
struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::u8;
  std::vector<std::uint64_t> shape;
  // Element strides, one per dimension; row-major unless `contiguous` is false.
  std::vector<std::uint64_t> strides;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  // Largest power of two (at most k_max_reported_alignment) that divides `offset`.
  std::uint64_t alignment = 1;
  // False for strided views and for Fortran-ordered npy arrays (column-major strides).
  bool contiguous = true;
  bool deflated = false;
  std::uint64_t inflated_offset = 0;
  // Storage the tensor views ("data/0", or the legacy storage key); empty for formats without
  // shared storages. Equal values mean the tensors share bytes.
  std::string storage;
  // True for torch.nn.Parameter and tensors saved with requires_grad; informational only.
  bool requires_grad = false;
};

inline constexpr std::uint64_t k_max_reported_alignment = 4096;

// Number of elements (1 for a 0-dimensional tensor); nullopt when the product overflows.
std::optional<std::uint64_t> element_count(const std::vector<std::uint64_t>& shape);

// Bytes of the elements stored contiguously; nullopt on overflow or when sub-byte elements do
// not fill whole bytes.
std::optional<std::uint64_t> contiguous_byte_size(Dtype dtype, const std::vector<std::uint64_t>& shape);

// Row-major element strides of `shape`.
std::vector<std::uint64_t> row_major_strides(const std::vector<std::uint64_t>& shape);

// Largest power of two up to k_max_reported_alignment dividing `offset`.
std::uint64_t offset_alignment(std::uint64_t offset);

} // namespace timmd::tensors

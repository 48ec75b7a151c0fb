// One tensor of a state dict being remapped: its name, dtype and shape, and where its bytes
// come from.
#pragma once

#include "daemon/tensors/dtype.hpp"
#include "daemon/tensors/tensor_data.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace timmd::remap {

// Bytes of a tensor: either a byte range of a tensor of the source checkpoint, served as it is
// stored, or bytes computed by a rule. A value that only changed its name or shape (a rename,
// a reshape, a slice along the first dimension) still points into the source, which is what
// lets a select-and-rename filter serve the stored blob without writing anything.
struct TensorValue {
  std::string name;
  tensors::Dtype dtype = tensors::Dtype::f32;
  std::vector<std::uint64_t> shape;

  // Index into the source checkpoint's tensor table, with a byte range inside that tensor's
  // contiguous elements; set when `computed` is null.
  std::optional<std::size_t> source;
  std::uint64_t source_byte_offset = 0;
  std::uint64_t byte_length = 0;

  // Row-major little-endian elements; set when the bytes were computed.
  std::shared_ptr<const tensors::AlignedBuffer> computed;

  bool is_computed() const { return computed != nullptr; }
};

// Bytes of `dtype` elements of `shape`, or nullopt on overflow.
std::optional<std::uint64_t> byte_size(tensors::Dtype dtype, const std::vector<std::uint64_t>& shape);

// Wraps computed bytes into a value. REQUIRES: data holds exactly byte_size(dtype, shape) bytes.
TensorValue make_computed(std::string name, tensors::Dtype dtype, std::vector<std::uint64_t> shape,
                          tensors::AlignedBuffer data);

// "(1, 197, 768)", the way timm users read shapes.
std::string format_shape(const std::vector<std::uint64_t>& shape);

} // namespace timmd::remap

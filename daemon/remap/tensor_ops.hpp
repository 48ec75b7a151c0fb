// Shape operations on contiguous row-major tensor bytes. They move elements without looking at
// their values, so every dtype of a whole number of bytes keeps its bits exactly.
#pragma once

#include "daemon/tensors/tensor_data.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace timmd::remap {

using Shape = std::vector<std::uint64_t>;

// Elements reordered so that output dimension i is input dimension dims[i] (torch.permute).
// REQUIRES: dims is a permutation of 0..shape.size()-1 and data holds the whole tensor.
tensors::AlignedBuffer permute_bytes(std::span<const std::byte> data, std::size_t element_size, const Shape& shape,
                                     const std::vector<std::size_t>& dims);

// Elements [start, end) along `dim`. REQUIRES: start <= end <= shape[dim].
tensors::AlignedBuffer slice_bytes(std::span<const std::byte> data, std::size_t element_size, const Shape& shape,
                                   std::size_t dim, std::uint64_t start, std::uint64_t end);

// The tensors joined along `dim` (torch.cat). REQUIRES: the shapes agree except along `dim`.
tensors::AlignedBuffer concat_bytes(const std::vector<std::span<const std::byte>>& parts, std::size_t element_size,
                                    const std::vector<Shape>& shapes, std::size_t dim);

// Product of the extents before `dim` and after it: a tensor is then (outer, shape[dim], inner).
std::uint64_t outer_count(const Shape& shape, std::size_t dim);
std::uint64_t inner_count(const Shape& shape, std::size_t dim);

} // namespace timmd::remap

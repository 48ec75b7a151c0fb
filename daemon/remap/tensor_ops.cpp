#include "daemon/remap/tensor_ops.hpp"

#include <cstring>

namespace timmd::remap {

std::uint64_t outer_count(const Shape& shape, std::size_t dim) {
  std::uint64_t count = 1;
  for (std::size_t i = 0; i < dim; ++i) {
    count *= shape[i];
  }
  return count;
}

std::uint64_t inner_count(const Shape& shape, std::size_t dim) {
  std::uint64_t count = 1;
  for (std::size_t i = dim + 1; i < shape.size(); ++i) {
    count *= shape[i];
  }
  return count;
}

tensors::AlignedBuffer permute_bytes(std::span<const std::byte> data, std::size_t element_size, const Shape& shape,
                                     const std::vector<std::size_t>& dims) {
  tensors::AlignedBuffer out(data.size(), 64);
  if (data.empty()) {
    return out;
  }
  const std::size_t rank = shape.size();
  Shape in_strides(rank, 1);
  for (std::size_t i = rank; i-- > 1;) {
    in_strides[i - 1] = in_strides[i] * shape[i];
  }
  Shape out_shape(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    out_shape[i] = shape[dims[i]];
  }
  const std::uint64_t total = data.size() / element_size;
  Shape index(rank, 0); // position in the output, odometer order
  auto* dst = out.bytes().data();
  for (std::uint64_t n = 0; n < total; ++n) {
    std::uint64_t source = 0;
    for (std::size_t i = 0; i < rank; ++i) {
      source += index[i] * in_strides[dims[i]];
    }
    std::memcpy(dst + n * element_size, data.data() + source * element_size, element_size);
    for (std::size_t i = rank; i-- > 0;) {
      if (++index[i] < out_shape[i]) {
        break;
      }
      index[i] = 0;
    }
  }
  return out;
}

tensors::AlignedBuffer slice_bytes(std::span<const std::byte> data, std::size_t element_size, const Shape& shape,
                                   std::size_t dim, std::uint64_t start, std::uint64_t end) {
  const std::uint64_t outer = outer_count(shape, dim);
  const std::uint64_t inner = inner_count(shape, dim) * element_size;
  const std::uint64_t rows = end - start;
  tensors::AlignedBuffer out(outer * rows * inner, 64);
  if (out.bytes().empty()) {
    return out;
  }
  for (std::uint64_t o = 0; o < outer; ++o) {
    std::memcpy(out.bytes().data() + o * rows * inner, data.data() + (o * shape[dim] + start) * inner, rows * inner);
  }
  return out;
}

tensors::AlignedBuffer concat_bytes(const std::vector<std::span<const std::byte>>& parts, std::size_t element_size,
                                    const std::vector<Shape>& shapes, std::size_t dim) {
  std::uint64_t total = 0;
  for (const auto& part : parts) {
    total += part.size();
  }
  tensors::AlignedBuffer out(total, 64);
  if (total == 0) {
    return out;
  }
  const std::uint64_t outer = outer_count(shapes.front(), dim);
  const std::uint64_t inner = inner_count(shapes.front(), dim) * element_size;
  auto* dst = out.bytes().data();
  for (std::uint64_t o = 0; o < outer; ++o) {
    for (std::size_t p = 0; p < parts.size(); ++p) {
      const std::uint64_t block = shapes[p][dim] * inner;
      std::memcpy(dst, parts[p].data() + o * block, block);
      dst += block;
    }
  }
  return out;
}

} // namespace timmd::remap

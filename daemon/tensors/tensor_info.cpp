#include "daemon/tensors/tensor_info.hpp"

namespace timmd::tensors {

std::optional<std::uint64_t> element_count(const std::vector<std::uint64_t>& shape) {
  std::uint64_t count = 1;
  for (const auto dim : shape) {
    if (__builtin_mul_overflow(count, dim, &count)) {
      return std::nullopt;
    }
  }
  return count;
}

std::optional<std::uint64_t> contiguous_byte_size(Dtype dtype, const std::vector<std::uint64_t>& shape) {
  const auto count = element_count(shape);
  if (!count) {
    return std::nullopt;
  }
  std::uint64_t bits = 0;
  if (__builtin_mul_overflow(*count, std::uint64_t{bit_width(dtype)}, &bits) || bits % 8 != 0) {
    return std::nullopt;
  }
  return bits / 8;
}

std::vector<std::uint64_t> row_major_strides(const std::vector<std::uint64_t>& shape) {
  std::vector<std::uint64_t> strides(shape.size(), 1);
  std::uint64_t stride = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    // Overflow is impossible for shapes whose element count was checked; saturate otherwise.
    if (__builtin_mul_overflow(stride, shape[i] == 0 ? 1 : shape[i], &stride)) {
      stride = UINT64_MAX;
    }
  }
  return strides;
}

std::uint64_t offset_alignment(std::uint64_t offset) {
  std::uint64_t alignment = 1;
  while (alignment < k_max_reported_alignment && offset % (alignment * 2) == 0) {
    alignment *= 2;
  }
  return alignment;
}

} // namespace timmd::tensors

#include "daemon/remap/tensor_value.hpp"

#include "daemon/tensors/tensor_info.hpp"

namespace timmd::remap {

std::optional<std::uint64_t> byte_size(tensors::Dtype dtype, const std::vector<std::uint64_t>& shape) {
  return tensors::contiguous_byte_size(dtype, shape);
}

TensorValue make_computed(std::string name, tensors::Dtype dtype, std::vector<std::uint64_t> shape,
                          tensors::AlignedBuffer data) {
  TensorValue value;
  value.name = std::move(name);
  value.dtype = dtype;
  value.shape = std::move(shape);
  value.byte_length = data.bytes().size();
  value.computed = std::make_shared<const tensors::AlignedBuffer>(std::move(data));
  return value;
}

std::string format_shape(const std::vector<std::uint64_t>& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    text += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
  }
  if (shape.size() == 1) {
    text += ",";
  }
  return text + ")";
}

} // namespace timmd::remap

#include "daemon/remap/materialize.hpp"

#include "daemon/tensors/safetensors_writer.hpp"

#include <algorithm>
#include <cstring>

namespace timmd::remap {

bool servable_in_place(const RemapResult& result, const tensors::Checkpoint& checkpoint) {
  return std::all_of(result.tensors.begin(), result.tensors.end(), [&](const TensorValue& value) {
    if (value.is_computed()) {
      return false;
    }
    const auto& info = checkpoint.tensors[*value.source];
    return info.contiguous && !info.deflated;
  });
}

std::uint64_t source_offset(const TensorValue& value, const tensors::Checkpoint& checkpoint) {
  return checkpoint.tensors[*value.source].offset + value.source_byte_offset;
}

proto::Result<void> write_remapped(const std::filesystem::path& path, const RemapResult& result,
                                   const tensors::Checkpoint& checkpoint, const tensors::ByteSource& source,
                                   const std::map<std::string, std::string>& metadata) {
  std::vector<tensors::SafetensorsInput> inputs;
  inputs.reserve(result.tensors.size());
  for (const auto& value : result.tensors) {
    tensors::SafetensorsInput input;
    input.name = value.name;
    input.dtype = value.dtype;
    input.shape = value.shape;
    input.fill = [&value, &checkpoint, &source](std::span<std::byte> out) -> proto::Result<void> {
      if (out.empty()) {
        return {};
      }
      if (value.is_computed()) {
        std::memcpy(out.data(), value.computed->bytes().data(), out.size());
        return {};
      }
      const auto& info = checkpoint.tensors[*value.source];
      const auto whole = byte_size(info.dtype, info.shape).value_or(0);
      if (value.source_byte_offset == 0 && out.size() == whole) {
        return tensors::read_tensor_into(source, info, out);
      }
      auto data = tensors::read_tensor(source, info);
      if (!data) {
        return data.error();
      }
      std::memcpy(out.data(), data->bytes().data() + value.source_byte_offset, out.size());
      return {};
    };
    inputs.push_back(std::move(input));
  }
  return tensors::write_safetensors(path, std::move(inputs), metadata);
}

} // namespace timmd::remap

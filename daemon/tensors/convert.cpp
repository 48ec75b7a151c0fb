#include "daemon/tensors/convert.hpp"

#include "daemon/tensors/safetensors_writer.hpp"
#include "daemon/tensors/tensor_data.hpp"

namespace timmd::tensors {

proto::Result<void> convert_to_safetensors(const std::filesystem::path& in,
                                           const std::filesystem::path& out,
                                           const ReadLimits& limits) {
  auto source = FileSource::open(in);
  if (!source) {
    return source.error();
  }
  auto checkpoint = read_checkpoint(*source, limits);
  if (!checkpoint) {
    return checkpoint.error();
  }

  std::vector<SafetensorsInput> inputs;
  inputs.reserve(checkpoint->tensors.size());
  for (const auto& tensor : checkpoint->tensors) {
    inputs.push_back({tensor.name, tensor.dtype, tensor.shape,
                      [&source, &tensor, &limits](std::span<std::byte> buffer) {
                        return read_tensor_into(*source, tensor, buffer, limits);
                      }});
  }
  const std::map<std::string, std::string> metadata{
    {"format", "pt"}, {"source_format", std::string(to_string(checkpoint->format))}};
  return write_safetensors(out, std::move(inputs), metadata);
}

} // namespace timmd::tensors

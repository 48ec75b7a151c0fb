#include "remap_test_support.hpp"

#include "daemon/remap/float_codec.hpp"
#include "daemon/tensors/safetensors_writer.hpp"
#include "daemon/tensors/tensor_data.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace timmd::remap::test {

std::filesystem::path source_dir() {
  return TIMMD_SOURCE_DIR;
}

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  return nlohmann::json::parse(in);
}

const RuleSet& shipped_rules() {
  static const RuleSet rules = [] {
    auto loaded = RuleSet::load(source_dir() / "config" / "remap");
    REQUIRE_MESSAGE(loaded.has_value(), (loaded ? std::string() : loaded.error().message));
    return *loaded;
  }();
  return rules;
}

MemoryCheckpoint::MemoryCheckpoint(const std::vector<FloatTensor>& specs) {
  std::vector<std::vector<float>> data;
  std::vector<tensors::SafetensorsInput> inputs;
  data.reserve(specs.size());
  for (const auto& spec : specs) {
    const auto count = tensors::element_count(spec.shape).value_or(0);
    auto& values = data.emplace_back(count);
    for (std::size_t i = 0; i < count; ++i) {
      values[i] = spec.base + static_cast<float>(i);
    }
    inputs.push_back(tensors::make_safetensors_input(spec.name, tensors::Dtype::f32, spec.shape,
                                                     std::as_bytes(std::span(values))));
  }
  auto header = tensors::make_safetensors_header(inputs, {});
  REQUIRE(header.has_value());
  const std::uint64_t length = header->size();
  m_bytes.resize(8 + header->size());
  std::memcpy(m_bytes.data(), &length, 8);
  std::memcpy(m_bytes.data() + 8, header->data(), header->size());
  for (const auto& values : data) {
    const auto bytes = std::as_bytes(std::span(values));
    m_bytes.insert(m_bytes.end(), bytes.begin(), bytes.end());
  }
  m_source = std::make_unique<tensors::MemorySource>(m_bytes, "memory.safetensors");
  auto checkpoint = tensors::read_checkpoint(*m_source);
  REQUIRE_MESSAGE(checkpoint.has_value(), (checkpoint ? std::string() : checkpoint.error().message));
  m_checkpoint = std::move(*checkpoint);
}

proto::Result<RemapResult> run_remap(const MemoryCheckpoint& checkpoint, const ModelFacts& model,
                                     const FilterSpec& filter, const std::string& architecture) {
  const RemapInput input{checkpoint.checkpoint(), checkpoint.source(), model, filter,
                         architecture.empty() ? nullptr : shipped_rules().select(architecture)};
  return remap_state_dict(input);
}

std::vector<float> values_of(const MemoryCheckpoint& checkpoint, const TensorValue& value) {
  if (value.is_computed()) {
    return decode_floats(value.dtype, value.computed->bytes());
  }
  auto whole = tensors::read_tensor(checkpoint.source(), checkpoint.checkpoint().tensors[*value.source]);
  REQUIRE(whole.has_value());
  return decode_floats(value.dtype, whole->bytes().subspan(value.source_byte_offset, value.byte_length));
}

const TensorValue* find(const RemapResult& result, const std::string& name) {
  for (const auto& tensor : result.tensors) {
    if (tensor.name == name) {
      return &tensor;
    }
  }
  return nullptr;
}

} // namespace timmd::remap::test

// Fuzzes what a client or a rule file can hand the remapper: the input is a rule file, a NUL
// byte, and the `filter` JSON of an open request. Both are parsed; when both parse, the rules
// run on a small ViT-like state dict, so that every step kind meets hostile parameters.
#include "daemon/remap/filter_spec.hpp"
#include "daemon/remap/remapper.hpp"
#include "daemon/remap/rule_file.hpp"
#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/safetensors_writer.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace {

using namespace timmd;

// A safetensors file of float32 tensors with ViT key names, built once.
struct SmallVit {
  std::vector<std::byte> bytes;
  std::unique_ptr<tensors::MemorySource> source;
  tensors::Checkpoint checkpoint;

  SmallVit() {
    const std::vector<std::pair<std::string, std::vector<std::uint64_t>>> shapes = {
        {"cls_token", {1, 1, 4}},          {"pos_embed", {1, 17, 4}},         {"patch_embed.proj.weight", {4, 3, 4, 4}},
        {"blocks.0.attn.qkv.weight", {12, 4}}, {"blocks.0.attn.relative_position_bias_table", {51, 2}},
        {"head.weight", {5, 4}},           {"head.bias", {5}},                {"n.num_batches_tracked", {}}};
    std::vector<std::vector<float>> data;
    std::vector<tensors::SafetensorsInput> inputs;
    data.reserve(shapes.size());
    for (const auto& [name, shape] : shapes) {
      std::uint64_t count = 1;
      for (auto e : shape) {
        count *= e;
      }
      auto& values = data.emplace_back(count, 0.5F);
      inputs.push_back(tensors::make_safetensors_input(name, tensors::Dtype::f32, shape, std::as_bytes(std::span(values))));
    }
    const auto header = tensors::make_safetensors_header(inputs, {}).value();
    const std::uint64_t length = header.size();
    bytes.resize(8);
    std::memcpy(bytes.data(), &length, 8);
    for (char c : header) {
      bytes.push_back(static_cast<std::byte>(c));
    }
    for (const auto& values : data) {
      const auto raw = std::as_bytes(std::span(values));
      bytes.insert(bytes.end(), raw.begin(), raw.end());
    }
    source = std::make_unique<tensors::MemorySource>(bytes, "fuzz.safetensors");
    checkpoint = tensors::read_checkpoint(*source).value();
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const SmallVit vit;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto split = input.find('\0');
  const auto rules_text = input.substr(0, split);
  const auto filter_text = split == std::string_view::npos ? std::string_view() : input.substr(split + 1);

  auto rules = remap::parse_rule_file(rules_text, "fuzz.json");
  const auto filter_json = nlohmann::json::parse(filter_text, nullptr, false);
  auto filter = remap::FilterSpec::from_json(filter_json.is_discarded() ? nlohmann::json() : filter_json);
  if (!rules || !filter) {
    return 0;
  }
  remap::ModelFacts model;
  model.architecture = "vit_fuzz";
  model.first_conv = {"patch_embed.proj"};
  model.classifier = {"head"};
  model.num_classes = 5;
  auto result = remap::remap_state_dict({vit.checkpoint, *vit.source, model, *filter, &*rules});
  if (result) {
    for (const auto& tensor : result->tensors) {
      const auto expected = remap::byte_size(tensor.dtype, tensor.shape);
      if (!expected || *expected != tensor.byte_length) {
        __builtin_trap();
      }
    }
  }
  return 0;
}

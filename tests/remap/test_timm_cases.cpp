// The cases of tests/data/timm/: checkpoints loaded by timm itself, with the state dict timm
// handed to load_state_dict. The remapper must reproduce each one bit for bit (the folder's
// README explains why bit-exactness is achievable for these operations).
#include "remap_test_support.hpp"

#include "daemon/tensors/byte_source.hpp"
#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/tensor_data.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

namespace timmd::remap {
namespace {

using nlohmann::json;
using test::read_json;
using test::source_dir;

struct CaseRun {
  tensors::Checkpoint input;
  std::unique_ptr<tensors::FileSource> source;
  RemapResult result;
};

FilterSpec filter_from_request(const json& request) {
  json filter = json::object();
  for (const auto& [key, value] : request["request_kwargs"].items()) {
    filter[key] = value;
  }
  auto spec = FilterSpec::from_json(filter);
  REQUIRE(spec.has_value());
  return *spec;
}

void check_case(const std::string& name) {
  CAPTURE(name);
  const auto dir = source_dir() / "tests" / "data" / "timm" / name;
  const auto request = read_json(dir / "request.json");
  const auto expected_info = read_json(dir / "expected.json");
  const auto config = read_json(dir / "input" / "config.json");

  auto source = tensors::FileSource::open(dir / "input" / "model.safetensors");
  REQUIRE(source.has_value());
  auto input = tensors::read_checkpoint(*source);
  REQUIRE(input.has_value());
  const auto model = ModelFacts::from_config(config, json(), request["architecture"].get<std::string>());
  const auto filter = filter_from_request(request);
  const auto* rules = test::shipped_rules().select(model.architecture);
  auto result = remap_state_dict({*input, *source, model, filter, rules});
  REQUIRE_MESSAGE(result.has_value(), (result ? std::string() : result.error().message));
  CHECK(result->strict == expected_info["strict"].get<bool>());

  auto expected_source = tensors::FileSource::open(dir / "expected.safetensors");
  REQUIRE(expected_source.has_value());
  auto expected = tensors::read_checkpoint(*expected_source);
  REQUIRE(expected.has_value());
  REQUIRE(result->tensors.size() == expected->tensors.size());
  for (const auto& want : expected->tensors) {
    CAPTURE(want.name);
    const auto* got = test::find(*result, want.name);
    REQUIRE(got != nullptr);
    CHECK(got->dtype == want.dtype);
    REQUIRE(got->shape == want.shape);
    auto want_bytes = tensors::read_tensor(*expected_source, want);
    REQUIRE(want_bytes.has_value());
    std::vector<std::byte> got_bytes;
    if (got->is_computed()) {
      const auto bytes = got->computed->bytes();
      got_bytes.assign(bytes.begin(), bytes.end());
    } else {
      auto whole = tensors::read_tensor(*source, input->tensors[*got->source]);
      REQUIRE(whole.has_value());
      const auto bytes = whole->bytes().subspan(got->source_byte_offset, got->byte_length);
      got_bytes.assign(bytes.begin(), bytes.end());
    }
    REQUIRE(got_bytes.size() == want_bytes->bytes().size());
    CHECK(std::memcmp(got_bytes.data(), want_bytes->bytes().data(), got_bytes.size()) == 0);
  }
}

TEST_CASE("a timm-layout ViT loaded unchanged is served unchanged and without new bytes") {
  check_case("a_test_vit_identity");
}

TEST_CASE("a ViT loaded with another num_classes loses its head and loads non-strict") {
  check_case("b_test_vit_depth1_num_classes_10");
}

TEST_CASE("a ViT loaded with in_chans=1 has its patch kernel summed over RGB") {
  check_case("c1_test_vit_depth1_in_chans_1");
}

TEST_CASE("a ViT loaded with in_chans=4 has its patch kernel tiled and scaled by 3/4") {
  check_case("c2_test_vit_depth1_in_chans_4");
}

TEST_CASE("an EfficientNet loaded with in_chans=1 and num_classes=5 adapts conv_stem and drops the classifier") {
  check_case("j_test_efficientnet_in_chans_1_num_classes_5");
}

TEST_CASE("a ConvNeXt in the facebookresearch layout is renamed to timm's") {
  check_case("g1_test_convnext_from_fb_layout");
}

} // namespace
} // namespace timmd::remap

// The original JAX .npz layouts of ViT (AugReg, and big_vision with scan-stacked blocks) through
// the shipped ViT rules, against the timm-layout state dict they were made from
// (tests/remap/generate_npz_case.py inverts timm's npz loader).
#include "remap_test_support.hpp"

#include "daemon/remap/float_codec.hpp"
#include "daemon/tensors/byte_source.hpp"
#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/tensor_data.hpp"

#include <doctest/doctest.h>

#include <cmath>

namespace timmd::remap {
namespace {

std::filesystem::path case_dir() {
  return test::source_dir() / "tests" / "data" / "remap" / "npz";
}

void check_npz(const std::string& file, const nlohmann::json& filter_json, const std::string& expected_file) {
  CAPTURE(file);
  auto source = tensors::FileSource::open(case_dir() / file);
  REQUIRE(source.has_value());
  auto input = tensors::read_checkpoint(*source);
  REQUIRE(input.has_value());
  ModelFacts model;
  model.architecture = "vit_base_patch16_224";
  model.first_conv = {"patch_embed.proj"};
  model.classifier = {"head"};
  model.num_classes = 5;
  auto filter = FilterSpec::from_json(filter_json);
  REQUIRE(filter.has_value());
  auto result = remap_state_dict({*input, *source, model, *filter, test::shipped_rules().select(model.architecture)});
  REQUIRE_MESSAGE(result.has_value(), (result ? std::string() : result.error().message));

  auto expected_source = tensors::FileSource::open(case_dir() / expected_file);
  REQUIRE(expected_source.has_value());
  auto expected = tensors::read_checkpoint(*expected_source);
  REQUIRE(expected.has_value());
  CHECK(result->tensors.size() == expected->tensors.size());
  for (const auto& want : expected->tensors) {
    CAPTURE(want.name);
    const auto* got = test::find(*result, want.name);
    REQUIRE(got != nullptr);
    REQUIRE(got->shape == want.shape);
    auto want_bytes = tensors::read_tensor(*expected_source, want);
    REQUIRE(want_bytes.has_value());
    const auto want_values = decode_floats(want.dtype, want_bytes->bytes());
    std::vector<float> got_values;
    if (got->is_computed()) {
      got_values = decode_floats(got->dtype, got->computed->bytes());
    } else {
      auto whole = tensors::read_tensor(*source, input->tensors[*got->source]);
      REQUIRE(whole.has_value());
      got_values = decode_floats(got->dtype, whole->bytes().subspan(got->source_byte_offset, got->byte_length));
    }
    REQUIRE(got_values.size() == want_values.size());
    for (std::size_t i = 0; i < want_values.size(); ++i) {
      // Moved values are exact; the resized position grid is held to the resampling tolerance.
      REQUIRE(std::fabs(got_values[i] - want_values[i]) <= 1e-5F + 1e-5F * std::fabs(want_values[i]));
    }
  }
}

TEST_CASE("an AugReg .npz becomes timm's ViT state dict") {
  check_npz("augreg.npz", nlohmann::json::object(), "expected.safetensors");
}

TEST_CASE("a big_vision .npz with scan-stacked blocks and a text tower becomes timm's ViT state dict") {
  check_npz("big_vision.npz", nlohmann::json::object(), "expected.safetensors");
}

TEST_CASE("an .npz position grid is resized bilinearly without antialias, as timm's npz loader does") {
  check_npz("augreg.npz", {{"img_size", 24}}, "expected_img24.safetensors");
}

} // namespace
} // namespace timmd::remap

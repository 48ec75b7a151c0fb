// The shipped rule files on synthetic checkpoints laid out as REMAP.md section 7 describes
// (T1 OpenAI CLIP, T3 Microsoft Swin, T4 facebookresearch ConvNeXt-V2, T7 DINOv2 with
// registers, BEiT), with small dimensions. Element i of every input tensor is `base + i`, so a
// value that moved to the wrong place or the wrong tensor shows.
#include "remap_test_support.hpp"

#include "daemon/remap/resample.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>

namespace timmd::remap {
namespace {

using nlohmann::json;
using test::FloatTensor;
using test::MemoryCheckpoint;
using Shape = std::vector<std::uint64_t>;

FilterSpec filter(const json& spec) {
  auto parsed = FilterSpec::from_json(spec);
  REQUIRE_MESSAGE(parsed.has_value(), (parsed ? std::string() : parsed.error().message));
  return *parsed;
}

ModelFacts facts(const std::string& architecture, const std::string& first_conv, const std::string& classifier,
                 std::int64_t num_classes) {
  ModelFacts model;
  model.architecture = architecture;
  model.first_conv = {first_conv};
  model.classifier = {classifier};
  model.num_classes = num_classes;
  return model;
}

RemapResult run(const MemoryCheckpoint& checkpoint, const ModelFacts& model, const FilterSpec& spec) {
  auto result = test::run_remap(checkpoint, model, spec, model.architecture);
  REQUIRE_MESSAGE(result.has_value(), (result ? std::string() : result.error().message));
  return std::move(*result);
}

const TensorValue& get(const RemapResult& result, const std::string& name) {
  const auto* value = test::find(result, name);
  REQUIRE_MESSAGE(value != nullptr, "missing " << name);
  return *value;
}

std::vector<float> iota(std::size_t count, float base) {
  std::vector<float> values(count);
  for (std::size_t i = 0; i < count; ++i) {
    values[i] = base + static_cast<float>(i);
  }
  return values;
}

std::set<std::string> names(const RemapResult& result) {
  std::set<std::string> out;
  for (const auto& t : result.tensors) {
    out.insert(t.name);
  }
  return out;
}

TEST_CASE("T1: an OpenAI CLIP visual tower becomes timm's ViT") {
  const std::uint64_t d = 8;
  const std::uint64_t out = 6;
  const MemoryCheckpoint checkpoint({{"visual.class_embedding", {d}, 0},
                                     {"visual.positional_embedding", {5, d}, 100},
                                     {"visual.conv1.weight", {d, 3, 2, 2}, 200},
                                     {"visual.ln_pre.weight", {d}, 300},
                                     {"visual.transformer.resblocks.0.attn.in_proj_weight", {3 * d, d}, 400},
                                     {"visual.transformer.resblocks.0.attn.in_proj_bias", {3 * d}, 500},
                                     {"visual.transformer.resblocks.0.attn.out_proj.weight", {d, d}, 600},
                                     {"visual.transformer.resblocks.0.ln_1.weight", {d}, 700},
                                     {"visual.transformer.resblocks.0.mlp.c_fc.weight", {4 * d, d}, 800},
                                     {"visual.transformer.resblocks.0.mlp.c_proj.weight", {d, 4 * d}, 900},
                                     {"visual.ln_post.weight", {d}, 1000},
                                     {"visual.proj", {d, out}, 1100},
                                     {"token_embedding.weight", {10, out}, 1200},
                                     {"positional_embedding", {7, out}, 1300},
                                     {"logit_scale", {}, 1400}});
  const auto result = run(checkpoint, facts("vit_base_patch16_clip_224", "patch_embed.proj", "head", out), filter({}));

  CHECK(names(result) == std::set<std::string>{"cls_token", "pos_embed", "patch_embed.proj.weight", "norm_pre.weight",
                                               "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias",
                                               "blocks.0.attn.proj.weight", "blocks.0.norm1.weight",
                                               "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight", "norm.weight",
                                               "head.weight", "head.bias"});
  CHECK(get(result, "cls_token").shape == Shape{1, 1, d});
  CHECK(test::values_of(checkpoint, get(result, "cls_token")) == iota(d, 0));
  CHECK(get(result, "pos_embed").shape == Shape{1, 5, d});
  CHECK_FALSE(get(result, "pos_embed").is_computed()); // an unsqueeze keeps the stored bytes

  const auto& head = get(result, "head.weight");
  REQUIRE(head.shape == Shape{out, d});
  const auto proj = iota(d * out, 1100);
  const auto transposed = test::values_of(checkpoint, head);
  for (std::uint64_t o = 0; o < out; ++o) {
    for (std::uint64_t i = 0; i < d; ++i) {
      REQUIRE(transposed[o * d + i] == proj[i * out + o]);
    }
  }
  const auto& bias = get(result, "head.bias");
  CHECK(bias.dtype == tensors::Dtype::f32);
  CHECK(bias.shape == Shape{out});
  CHECK(test::values_of(checkpoint, bias) == std::vector<float>(out, 0.0F));
}

TEST_CASE("T1: the converted checkpoint passes through the same rules unchanged") {
  const MemoryCheckpoint checkpoint({{"cls_token", {1, 1, 8}, 0},
                                     {"pos_embed", {1, 5, 8}, 10},
                                     {"patch_embed.proj.weight", {8, 3, 2, 2}, 100},
                                     {"head.weight", {6, 8}, 200},
                                     {"head.bias", {6}, 300}});
  const auto result = run(checkpoint, facts("vit_base_patch16_clip_224", "patch_embed.proj", "head", 6), filter({}));
  CHECK(result.only_source_bytes());
  CHECK(result.tensors.size() == 5);
  CHECK(result.strict);
}

TEST_CASE("T3: a Microsoft Swin checkpoint gets timm's downsample indices, head and window") {
  const MemoryCheckpoint checkpoint({{"patch_embed.proj.weight", {4, 3, 4, 4}, 0},
                                     {"layers.0.blocks.0.attn.relative_position_bias_table", {169, 2}, 100},
                                     {"layers.0.blocks.0.attn.relative_position_index", {49, 49}, 500},
                                     {"layers.0.blocks.1.attn_mask", {4, 49, 49}, 600},
                                     {"layers.0.downsample.reduction.weight", {8, 16}, 700},
                                     {"layers.0.downsample.norm.weight", {16}, 800},
                                     {"layers.1.blocks.0.attn.relative_position_bias_table", {169, 4}, 900},
                                     {"norm.weight", {8}, 1000},
                                     {"head.weight", {10, 8}, 1100},
                                     {"head.bias", {10}, 1200}});
  Manifest manifest;
  const auto spec = filter({{"window_size", 12}});
  const auto result = run(checkpoint, facts("swin_base_patch4_window12_384", "patch_embed.proj", "head.fc", 10), spec);

  CHECK(names(result) == std::set<std::string>{"patch_embed.proj.weight",
                                               "layers.0.blocks.0.attn.relative_position_bias_table",
                                               "layers.1.downsample.reduction.weight", "layers.1.downsample.norm.weight",
                                               "layers.1.blocks.0.attn.relative_position_bias_table", "norm.weight",
                                               "head.fc.weight", "head.fc.bias"});
  const auto& table = get(result, "layers.1.blocks.0.attn.relative_position_bias_table");
  CHECK(table.shape == Shape{529, 4});
  auto expected = resize_rel_pos_bias_table(iota(169 * 4, 900), 169, 4, 12, 12);
  REQUIRE(expected.has_value());
  CHECK(test::values_of(checkpoint, table) == *expected);
  CHECK(test::values_of(checkpoint, get(result, "layers.1.downsample.norm.weight")) == iota(16, 800));
  CHECK(test::values_of(checkpoint, get(result, "head.fc.weight")) == iota(80, 1100));
}

TEST_CASE("T3: a timm-layout Swin, even without its head, is not mistaken for the old layout") {
  const MemoryCheckpoint checkpoint({{"patch_embed.proj.weight", {4, 3, 4, 4}, 0},
                                     {"layers.0.blocks.0.attn.relative_position_bias_table", {169, 2}, 100},
                                     {"layers.1.downsample.reduction.weight", {8, 16}, 700},
                                     {"layers.1.downsample.norm.weight", {16}, 800},
                                     {"norm.weight", {8}, 1000}});
  const auto result = run(checkpoint, facts("swin_tiny_patch4_window7_224", "patch_embed.proj", "head.fc", 0), filter({}));
  CHECK(result.only_source_bytes());
  CHECK(names(result).contains("layers.1.downsample.norm.weight"));
  CHECK_FALSE(names(result).contains("layers.2.downsample.norm.weight"));
}

TEST_CASE("T4: a facebookresearch ConvNeXt-V2 checkpoint becomes timm's layout") {
  const MemoryCheckpoint checkpoint({{"downsample_layers.0.0.weight", {4, 3, 4, 4}, 0},
                                     {"downsample_layers.0.1.weight", {4}, 100},
                                     {"downsample_layers.1.0.weight", {4}, 200},
                                     {"downsample_layers.1.1.weight", {8, 4, 2, 2}, 300},
                                     {"stages.0.0.dwconv.weight", {4, 1, 7, 7}, 400},
                                     {"stages.0.0.pwconv1.weight", {16, 4}, 600},
                                     {"stages.0.0.grn.gamma", {1, 1, 1, 16}, 700},
                                     {"stages.0.0.grn.beta", {1, 1, 1, 16}, 800},
                                     {"stages.0.0.pwconv2.weight", {4, 16}, 900},
                                     {"norm.weight", {8}, 1000},
                                     {"head.weight", {10, 8}, 1100},
                                     {"projectors.0.weight", {3}, 1200}});
  const auto result = run(checkpoint, facts("convnextv2_tiny", "stem.0", "head.fc", 10), filter({}));
  CHECK(names(result) == std::set<std::string>{"stem.0.weight", "stem.1.weight", "stages.1.downsample.0.weight",
                                               "stages.1.downsample.1.weight", "stages.0.blocks.0.conv_dw.weight",
                                               "stages.0.blocks.0.mlp.fc1.weight", "stages.0.blocks.0.mlp.grn.weight",
                                               "stages.0.blocks.0.mlp.grn.bias", "stages.0.blocks.0.mlp.fc2.weight",
                                               "head.norm.weight", "head.fc.weight"});
  CHECK(get(result, "stages.0.blocks.0.mlp.grn.weight").shape == Shape{16});
  CHECK(test::values_of(checkpoint, get(result, "stages.0.blocks.0.mlp.grn.bias")) == iota(16, 800));
  CHECK(result.only_source_bytes()); // renames and reshapes only: the stored blob is served
}

TEST_CASE("T4: a timm ConvNeXt saved without its head passes unchanged") {
  const MemoryCheckpoint checkpoint({{"stem.0.weight", {4, 3, 4, 4}, 0},
                                     {"stages.0.blocks.0.conv_dw.weight", {4, 1, 7, 7}, 100},
                                     {"stages.1.downsample.1.weight", {8, 4, 2, 2}, 300}});
  const auto result = run(checkpoint, facts("convnext_tiny", "stem.0", "head.fc", 0), filter({}));
  CHECK(names(result) ==
        std::set<std::string>{"stem.0.weight", "stages.0.blocks.0.conv_dw.weight", "stages.1.downsample.1.weight"});
}

TEST_CASE("T7: DINOv2 with registers: cls token absorbs pos row 0, registers renamed, pos resized without prefix") {
  const std::uint64_t d = 4;
  const MemoryCheckpoint checkpoint({{"mask_token", {1, d}, 0},
                                     {"register_tokens", {1, 4, d}, 10},
                                     {"cls_token", {1, 1, d}, 20},
                                     {"pos_embed", {1, 1 + 37 * 37, d}, 100},
                                     {"patch_embed.proj.weight", {d, 3, 14, 14}, 0},
                                     {"blocks.0.mlp.w12.weight", {16, d}, 30},
                                     {"blocks.0.mlp.w3.weight", {d, 8}, 40}});
  const auto result = run(checkpoint, facts("vit_base_patch14_reg4_dinov2", "patch_embed.proj", "head", 0),
                          filter({{"img_size", 224}}));
  CHECK(names(result) == std::set<std::string>{"reg_token", "cls_token", "pos_embed", "patch_embed.proj.weight",
                                               "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight"});
  CHECK(test::values_of(checkpoint, get(result, "cls_token")) == std::vector<float>{120, 122, 124, 126});
  CHECK(test::values_of(checkpoint, get(result, "reg_token")) == iota(16, 10));

  const auto& pos = get(result, "pos_embed");
  REQUIRE(pos.shape == Shape{1, 256, d});
  const auto grid = iota(37 * 37 * d, 100 + static_cast<float>(d)); // rows 1... of the stored table
  auto expected = resample_abs_pos_embed(grid, d, 0, 37, 37, 16, 16, Interpolation::bicubic, true);
  REQUIRE(expected.has_value());
  CHECK(test::values_of(checkpoint, pos) == *expected);
}

TEST_CASE("ViT: img_size resizes the position grid and keeps the class token row") {
  const std::uint64_t d = 3;
  const MemoryCheckpoint checkpoint({{"cls_token", {1, 1, d}, 0},
                                     {"pos_embed", {1, 1 + 4 * 4, d}, 100},
                                     {"patch_embed.proj.weight", {d, 3, 16, 16}, 0}});
  const auto result = run(checkpoint, facts("vit_base_patch16_224", "patch_embed.proj", "head", 0),
                          filter({{"img_size", {96, 128}}}));
  const auto& pos = get(result, "pos_embed");
  REQUIRE(pos.shape == Shape{1, 1 + 6 * 8, d});
  const auto values = test::values_of(checkpoint, pos);
  CHECK(std::vector<float>(values.begin(), values.begin() + 3) == std::vector<float>{100, 101, 102});
  auto expected = resample_abs_pos_embed(iota((1 + 16) * d, 100), d, 1, 4, 4, 6, 8, Interpolation::bicubic, true);
  REQUIRE(expected.has_value());
  CHECK(values == *expected);
}

TEST_CASE("BEiT: img_size resizes the absolute and the relative position tables to the patch grid") {
  const MemoryCheckpoint checkpoint({{"cls_token", {1, 1, 2}, 0},
                                     {"patch_embed.proj.weight", {2, 3, 16, 16}, 0},
                                     {"blocks.0.attn.relative_position_bias_table", {13 * 13 + 3, 2}, 100},
                                     {"blocks.0.attn.relative_position_index", {50, 50}, 0}});
  const auto result = run(checkpoint, facts("beit_base_patch16_224", "patch_embed.proj", "head", 0),
                          filter({{"img_size", 160}}));
  CHECK_FALSE(names(result).contains("blocks.0.attn.relative_position_index"));
  CHECK(get(result, "blocks.0.attn.relative_position_bias_table").shape == Shape{19 * 19 + 3, 2});
}

TEST_CASE("generic steps: in_chans adapts the first conv, num_classes drops the classifier") {
  const MemoryCheckpoint checkpoint({{"conv1.weight", {2, 3, 1, 1}, 1}, {"fc.weight", {5, 2}, 0}, {"fc.bias", {5}, 0}});
  auto model = facts("resnet50", "conv1", "fc", 5);
  auto result = run(checkpoint, model, filter({{"in_chans", 1}, {"num_classes", 7}}));
  CHECK_FALSE(result.strict);
  CHECK(names(result) == std::set<std::string>{"conv1.weight"});
  CHECK(test::values_of(checkpoint, get(result, "conv1.weight")) == std::vector<float>{1 + 2 + 3, 4 + 5 + 6});

  result = run(checkpoint, model, filter({{"in_chans", 4}}));
  CHECK(test::values_of(checkpoint, get(result, "conv1.weight")) ==
        std::vector<float>{0.75F, 1.5F, 2.25F, 0.75F, 3.0F, 3.75F, 4.5F, 3.0F});

  model.label_offset = 1;
  result = run(checkpoint, model, filter({}));
  CHECK(get(result, "fc.weight").shape == Shape{4, 2});
  CHECK(test::values_of(checkpoint, get(result, "fc.bias")) == std::vector<float>{1, 2, 3, 4});
  CHECK(result.only_source_bytes());
}

TEST_CASE("a first conv that cannot take in_chans is dropped, as timm does") {
  const MemoryCheckpoint checkpoint({{"stem.weight", {2, 5, 1, 1}, 0}, {"fc.weight", {5, 2}, 0}});
  const auto result = run(checkpoint, facts("resnet50", "stem", "fc", 5), filter({{"in_chans", 4}}));
  CHECK_FALSE(names(result).contains("stem.weight"));
  CHECK_FALSE(result.strict);
}

TEST_CASE("a manifest orders the result, reports missing and unexpected keys, and fills in num_classes") {
  const MemoryCheckpoint checkpoint({{"a.weight", {2, 3, 1, 1}, 0}, {"b", {4}, 0}, {"fc.weight", {5, 2}, 0},
                                     {"fc.bias", {5}, 0}});
  const json manifest = {{"tensors",
                          {{{"name", "b"}, {"shape", {4}}},
                           {{"name", "a.weight"}, {"shape", {2, 3, 1, 1}}},
                           {{"name", "fc.weight"}, {"shape", {9, 2}}},
                           {{"name", "fc.bias"}, {"shape", {9}}},
                           {{"name", "c"}, {"shape", {1}}}}}};
  auto model = facts("resnet50", "a", "fc", 5);
  const auto result = run(checkpoint, model, filter({{"manifest", manifest}}));
  REQUIRE(result.tensors.size() == 2);
  CHECK(result.tensors[0].name == "b");
  CHECK(result.tensors[1].name == "a.weight");
  CHECK(result.missing_keys == std::vector<std::string>{"fc.weight", "fc.bias", "c"});
  CHECK_FALSE(result.strict);

  const json wrong = {{"tensors", {{{"name", "b"}, {"shape", {5}}}, {{"name", "a.weight"}, {"shape", {2, 3, 1, 1}}}}}};
  auto failed = test::run_remap(checkpoint, model, filter({{"manifest", wrong}, {"num_classes", 5}}), "resnet50");
  REQUIRE_FALSE(failed.has_value());
  CHECK(failed.error().code == proto::Errc::invalid_request);
  CHECK(failed.error().message.starts_with("1 tensors do not have the manifest's shape"));
  CHECK(failed.error().message.find("b (4,) vs (5,)") != std::string::npos);
  CHECK(failed.error().details["mismatched"][0]["name"] == "b");
}

TEST_CASE("dtype casts floating tensors, include and exclude select by glob") {
  const MemoryCheckpoint checkpoint({{"blocks.0.w", {2}, 1}, {"blocks.1.w", {2}, 3}, {"head.w", {2}, 5}});
  const auto result = run(checkpoint, facts("resnet50", "x", "y", 0),
                          filter({{"dtype", "f16"}, {"include", "blocks.*"}, {"exclude", "*.1.*"}}));
  REQUIRE(names(result) == std::set<std::string>{"blocks.0.w"});
  CHECK(get(result, "blocks.0.w").dtype == tensors::Dtype::f16);
  CHECK(test::values_of(checkpoint, get(result, "blocks.0.w")) == std::vector<float>{1, 2});

  auto empty = test::run_remap(checkpoint, facts("resnet50", "x", "y", 0), filter({{"include", "nothing*"}}), "");
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().message.find("no tensors") != std::string::npos);
}

TEST_CASE("a rule whose split does not fit the checkpoint names the rule file, step and tensor") {
  auto rules = parse_rule_file(R"({"family": "t", "architectures": ["t"], "steps": [
      {"op": "split", "pattern": "qkv", "dim": 0, "into": ["q", "k", "v"]}]})",
                               "split.json");
  REQUIRE(rules.has_value());
  const MemoryCheckpoint checkpoint({{"qkv", {4, 2}, 0}});
  const ModelFacts model;
  const FilterSpec spec;
  auto result = remap_state_dict({checkpoint.checkpoint(), checkpoint.source(), model, spec, &*rules});
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().message.find("split.json step 0 (split)") != std::string::npos);
  CHECK(result.error().message.find("'qkv'") != std::string::npos);
}

TEST_CASE("split and concat move rows and keep first-dimension slices in the source") {
  auto rules = parse_rule_file(R"({"family": "t", "architectures": ["t"], "steps": [
      {"op": "split", "pattern": "^(.*)qkv$", "dim": 0, "into": ["\\1q", "", "\\1v"]},
      {"op": "concat", "pattern": "^(.*)\\.a$", "parts": ["\\1.a", "\\1.b"], "to": "\\1.ab", "dim": 1}]})",
                               "ops.json");
  REQUIRE(rules.has_value());
  const MemoryCheckpoint checkpoint({{"x.qkv", {3, 2}, 0}, {"y.a", {2, 1}, 10}, {"y.b", {2, 2}, 20}});
  const ModelFacts model;
  const FilterSpec spec;
  auto result = remap_state_dict({checkpoint.checkpoint(), checkpoint.source(), model, spec, &*rules});
  REQUIRE(result.has_value());
  CHECK(names(*result) == std::set<std::string>{"x.q", "x.v", "y.ab"});
  CHECK_FALSE(get(*result, "x.v").is_computed());
  CHECK(test::values_of(checkpoint, get(*result, "x.v")) == std::vector<float>{4, 5});
  CHECK(get(*result, "y.ab").shape == Shape{2, 3});
  CHECK(test::values_of(checkpoint, get(*result, "y.ab")) == std::vector<float>{10, 20, 21, 11, 22, 23});
}

} // namespace
} // namespace timmd::remap

namespace timmd::remap {
namespace {

TEST_CASE("DeiT distilled: class and distillation tokens are two prefix rows kept through a resize") {
  const std::uint64_t d = 2;
  const MemoryCheckpoint checkpoint({{"cls_token", {1, 1, d}, 0},
                                     {"dist_token", {1, 1, d}, 0},
                                     {"pos_embed", {1, 2 + 3 * 3, d}, 100},
                                     {"patch_embed.proj.weight", {d, 3, 16, 16}, 0},
                                     {"head.weight", {4, d}, 0},
                                     {"head_dist.weight", {4, d}, 0}});
  auto model = facts("deit_base_distilled_patch16_224", "patch_embed.proj", "head", 4);
  model.classifier = {"head", "head_dist"};
  const auto result = run(checkpoint, model, filter({{"img_size", 64}, {"num_classes", 2}}));
  CHECK_FALSE(names(result).contains("head.weight"));
  CHECK_FALSE(names(result).contains("head_dist.weight"));
  const auto& pos = get(result, "pos_embed");
  REQUIRE(pos.shape == Shape{1, 2 + 4 * 4, d});
  auto expected = resample_abs_pos_embed(iota((2 + 9) * d, 100), d, 2, 3, 3, 4, 4, Interpolation::bicubic, true);
  REQUIRE(expected.has_value());
  CHECK(test::values_of(checkpoint, pos) == *expected);
}

TEST_CASE("ViT with no_embed_class in model_args resizes the whole table as grid rows") {
  const std::uint64_t d = 2;
  const MemoryCheckpoint checkpoint({{"cls_token", {1, 1, d}, 0},
                                     {"pos_embed", {1, 4 * 4, d}, 100},
                                     {"patch_embed.proj.weight", {d, 3, 16, 16}, 0}});
  auto model = facts("vit_medium_patch16_gap_256", "patch_embed.proj", "head", 0);
  model.model_args = {{"no_embed_class", true}};
  const auto result = run(checkpoint, model, filter({{"img_size", 96}}));
  auto expected = resample_abs_pos_embed(iota(16 * d, 100), d, 0, 4, 4, 6, 6, Interpolation::bicubic, true);
  REQUIRE(expected.has_value());
  CHECK(test::values_of(checkpoint, get(result, "pos_embed")) == *expected);
}

TEST_CASE("Swin V2: the Microsoft layout gets timm's downsample indices and head, buffers dropped") {
  const MemoryCheckpoint checkpoint({{"layers.0.blocks.0.attn.relative_coords_table", {1, 13, 13, 2}, 0},
                                     {"layers.0.blocks.0.attn.relative_position_index", {49, 49}, 0},
                                     {"layers.0.blocks.0.attn.cpb_mlp.0.weight", {8, 2}, 0},
                                     {"layers.0.downsample.reduction.weight", {8, 16}, 0},
                                     {"head.weight", {3, 8}, 0},
                                     {"head.bias", {3}, 0}});
  const auto result = run(checkpoint, facts("swinv2_tiny_window8_256", "patch_embed.proj", "head.fc", 3), filter({}));
  CHECK(names(result) == std::set<std::string>{"layers.0.blocks.0.attn.cpb_mlp.0.weight",
                                               "layers.1.downsample.reduction.weight", "head.fc.weight",
                                               "head.fc.bias"});
  CHECK(result.only_source_bytes());
}

} // namespace
} // namespace timmd::remap

namespace timmd::remap {
namespace {

TEST_CASE("ConvNeXt from an OpenCLIP tower: the trunk is kept, the projection becomes the classifier") {
  const MemoryCheckpoint checkpoint({{"visual.trunk.stem.0.weight", {4, 3, 4, 4}, 0},
                                     {"visual.trunk.stages.0.blocks.0.conv_dw.weight", {4, 1, 7, 7}, 100},
                                     {"visual.trunk.head.norm.weight", {4}, 200},
                                     {"visual.head.proj.weight", {6, 4}, 300},
                                     {"text.token_embedding.weight", {10, 6}, 400},
                                     {"logit_scale", {}, 0}});
  const auto result = run(checkpoint, facts("convnext_base", "stem.0", "head.fc", 6), filter({}));
  CHECK(names(result) == std::set<std::string>{"stem.0.weight", "stages.0.blocks.0.conv_dw.weight", "head.norm.weight",
                                               "head.fc.weight", "head.fc.bias"});
  CHECK(test::values_of(checkpoint, get(result, "head.fc.weight")) == iota(24, 300));
  CHECK(test::values_of(checkpoint, get(result, "head.fc.bias")) == std::vector<float>(6, 0.0F));
}

} // namespace
} // namespace timmd::remap

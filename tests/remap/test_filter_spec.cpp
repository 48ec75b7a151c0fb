#include "daemon/remap/filter_spec.hpp"

#include <doctest/doctest.h>

namespace timmd::remap {
namespace {

using nlohmann::json;

proto::Error filter_error(const json& filter) {
  auto spec = FilterSpec::from_json(filter);
  REQUIRE_FALSE(spec.has_value());
  CHECK(spec.error().code == proto::Errc::invalid_request);
  return spec.error();
}

TEST_CASE("a filter parses every option and spells it one way") {
  auto spec = FilterSpec::from_json({{"num_classes", 10},
                                     {"in_chans", 1},
                                     {"img_size", 384},
                                     {"window_size", {12, 16}},
                                     {"dtype", "bfloat16"},
                                     {"include", "blocks.*"},
                                     {"exclude", {"*.bias"}}});
  REQUIRE(spec.has_value());
  CHECK(*spec->num_classes == 10);
  CHECK(*spec->in_chans == 1);
  CHECK(*spec->img_size == Size2{384, 384});
  CHECK(*spec->window_size == Size2{12, 16});
  CHECK(*spec->dtype == tensors::Dtype::bf16);
  CHECK(spec->include == std::vector<std::string>{"blocks.*"});
  const auto canonical = spec->canonical();
  CHECK(canonical["img_size"] == json({384, 384}));
  CHECK(canonical["dtype"] == "BF16");

  auto same = FilterSpec::from_json({{"img_size", {384, 384}}, {"dtype", "bf16"}, {"in_chans", 1}, {"num_classes", 10},
                                     {"window_size", {12, 16}}, {"include", {"blocks.*"}}, {"exclude", "*.bias"}});
  REQUIRE(same.has_value());
  CHECK(same->canonical() == canonical);
  CHECK(FilterSpec::from_json(nullptr).has_value());
}

TEST_CASE("bad filter values are errors naming the field") {
  CHECK(filter_error({{"num_classes", -1}}).details["field"] == "num_classes");
  CHECK(filter_error({{"in_chans", 0}}).details["field"] == "in_chans");
  CHECK(filter_error({{"img_size", {1, 2, 3}}}).details["field"] == "img_size");
  CHECK(filter_error({{"dtype", "f64"}}).message.find("\"f32\", \"f16\" or \"bf16\"") != std::string::npos);
  CHECK(filter_error({{"include", {1}}}).details["field"] == "include");
  CHECK(filter_error({{"num_clases", 10}}).message.find("num_clases") != std::string::npos);
  CHECK(filter_error("text").details["field"] == "filter");
}

TEST_CASE("a manifest keeps the model's order and rejects malformed entries") {
  auto manifest = Manifest::from_json({{"tensors",
                                        {{{"name", "b"}, {"shape", {2}}, {"dtype", "float32"}},
                                         {{"name", "a"}, {"shape", json::array()}, {"dtype", "torch.int64"}}}},
                                       {"num_prefix_tokens", 1},
                                       {"grid_size", {14, 14}}});
  REQUIRE(manifest.has_value());
  CHECK(manifest->tensors[0].name == "b");
  CHECK(manifest->find("a")->dtype == tensors::Dtype::i64);
  CHECK(manifest->find("a")->shape.empty());
  CHECK(manifest->find("c") == nullptr);
  CHECK(*manifest->grid_size == Size2{14, 14});

  CHECK_FALSE(Manifest::from_json({{"tensors", {{{"name", "a"}, {"shape", {1}}}, {{"name", "a"}, {"shape", {1}}}}}}).has_value());
  CHECK_FALSE(Manifest::from_json({{"tensors", {{{"name", "a"}, {"shape", {-1}}}}}}).has_value());
  CHECK_FALSE(Manifest::from_json({{"tensors", {{{"name", "a"}, {"shape", {1}}, {"dtype", "float99"}}}}}).has_value());
  CHECK_FALSE(Manifest::from_json({{"weights", json::array()}}).has_value());
}

} // namespace
} // namespace timmd::remap

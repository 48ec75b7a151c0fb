// One test per correction in config/registry/overrides.json, so each name reaches the weights
// of its own architecture or fails with a message that names what to use instead.
#include "daemon/registry/resolver.hpp"

#include "registry_test_support.hpp"

#include <doctest/doctest.h>

using timmd::proto::Errc;
using timmd::registry::resolve;
using timmd::registry::ResolvedBy;
using timmd::registry::UserAliases;
using namespace timmd::registry::test;

namespace {

void check_reaches(const std::string& name, const std::string& expected_arch, const std::string& expected_tag) {
  INFO(name);
  const auto resolution = resolve(bundled_registry(), name, UserAliases{});
  REQUIRE_MESSAGE(resolution.has_value(), (resolution ? std::string() : resolution.error().message));
  CHECK(resolution->name == expected_arch + "." + expected_tag);
  CHECK(resolution->repo == "timm/" + expected_arch + "." + expected_tag);
  CHECK(resolution->resolved_by == ResolvedBy::deprecated_alias);
  REQUIRE(resolution->pretrained_cfg);
  const auto* record = bundled_registry().find_architecture(expected_arch)->find_tag(expected_tag);
  REQUIRE(record != nullptr);
  CHECK(*resolution->pretrained_cfg == record->pretrained_cfg);
  REQUIRE(resolution->notice);
  CHECK(resolution->notice->find(expected_arch + "." + expected_tag) != std::string::npos);
}

} // namespace

TEST_CASE("ig_resnext101_32x8d keeps the upstream target") {
  check_reaches("ig_resnext101_32x8d", "resnext101_32x8d", "fb_wsl_ig1b_ft_in1k");
}

TEST_CASE("ig_resnext101_32x16d reaches the 32x16d weights") {
  check_reaches("ig_resnext101_32x16d", "resnext101_32x16d", "fb_wsl_ig1b_ft_in1k");
}

TEST_CASE("ig_resnext101_32x32d reaches the 32x32d weights") {
  check_reaches("ig_resnext101_32x32d", "resnext101_32x32d", "fb_wsl_ig1b_ft_in1k");
}

TEST_CASE("ig_resnext101_32x48d fails with alternatives") {
  const auto resolution = resolve(bundled_registry(), "ig_resnext101_32x48d", UserAliases{});
  REQUIRE_FALSE(resolution);
  CHECK(resolution.error().code == Errc::not_found);
  const auto& message = resolution.error().message;
  CHECK(message.find("ig_resnext101_32x48d") != std::string::npos);
  CHECK(message.find("no resnext101_32x48d architecture") != std::string::npos);
  CHECK(message.find("resnext101_32x32d.fb_wsl_ig1b_ft_in1k") != std::string::npos);
  CHECK(message.find("resnext101_32x8d") == std::string::npos);
}

TEST_CASE("vit_base_patch16_224_sam reaches the sam_in1k tag") {
  check_reaches("vit_base_patch16_224_sam", "vit_base_patch16_224", "sam_in1k");
}

TEST_CASE("vit_base_patch32_224_sam reaches the sam_in1k tag") {
  check_reaches("vit_base_patch32_224_sam", "vit_base_patch32_224", "sam_in1k");
}

TEST_CASE("resmlp_12_224_dino reaches the DINO weights") {
  check_reaches("resmlp_12_224_dino", "resmlp_12_224", "fb_dino");
}

TEST_CASE("resmlp_24_224_dino reaches the DINO weights") {
  check_reaches("resmlp_24_224_dino", "resmlp_24_224", "fb_dino");
}

TEST_CASE("every override entry gives a reason") {
  const auto& overrides = raw_overrides();
  std::size_t entries = 0;
  for (const auto& [name, entry] : overrides["deprecations"].items()) {
    INFO(name);
    REQUIRE(entry.is_object());
    CHECK(entry["reason"].is_string());
    CHECK_FALSE(entry["reason"].get<std::string>().empty());
    ++entries;
  }
  if (overrides.contains("architectures")) {
    for (const auto& [name, entry] : overrides["architectures"].items()) {
      INFO(name);
      CHECK(entry["reason"].is_string());
      ++entries;
    }
  }
  CHECK(entries == 7);
}

TEST_CASE("every override corrects an entry of the snapshot") {
  const auto& raw = raw_timm_registry();
  for (const auto& [name, entry] : raw_overrides()["deprecations"].items()) {
    INFO(name);
    REQUIRE(raw["deprecations"].contains(name));
    CHECK(raw["deprecations"][name] != entry["target"]);
  }
}

TEST_CASE("no deprecated name serves another width of resnext") {
  for (const auto& [name, deprecation] : bundled_registry().deprecations()) {
    if (!name.starts_with("ig_resnext101_") || !deprecation.target) {
      continue;
    }
    INFO(name);
    const auto width = name.substr(name.rfind('_') + 1);
    CHECK(deprecation.target->starts_with("resnext101_" + width + "."));
  }
}

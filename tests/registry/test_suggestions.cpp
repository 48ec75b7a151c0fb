#include "daemon/registry/suggestions.hpp"

#include "registry_test_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>

using timmd::registry::k_max_suggestions;
using timmd::registry::suggest_names;
using timmd::registry::suggest_tags;
using timmd::registry::UserAliases;
using namespace timmd::registry::test;

namespace {

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

} // namespace

TEST_CASE("suggestions for a one-letter typo") {
  const auto names = suggest_names(bundled_registry(), UserAliases{}, "resnt50");
  REQUIRE_FALSE(names.empty());
  CHECK(names[0] == "resnet50");
}

TEST_CASE("suggestions for a prefix") {
  const auto names = suggest_names(bundled_registry(), UserAliases{}, "convnext");
  REQUIRE(names.size() == k_max_suggestions);
  for (const auto& name : names) {
    CHECK(name.starts_with("convnext"));
  }
}

TEST_CASE("suggestions prefer names extending the query") {
  const auto names = suggest_names(bundled_registry(), UserAliases{}, "mobilenetv4");
  REQUIRE(names.size() == k_max_suggestions);
  for (const auto& name : names) {
    CHECK(name.starts_with("mobilenetv4_"));
  }
}

TEST_CASE("suggestions for a long name with a wrong ending") {
  const auto names = suggest_names(bundled_registry(), UserAliases{}, "efficientnet_b0_typo");
  CHECK(contains(names, "efficientnet_b0"));
}

TEST_CASE("suggestions name the current name of a deprecated one") {
  const auto names = suggest_names(bundled_registry(), UserAliases{}, "tv_resnet5");
  CHECK(contains(names, "resnet50.tv_in1k"));
  CHECK_FALSE(contains(names, "tv_resnet50"));
}

TEST_CASE("suggestions include user aliases") {
  UserAliases aliases;
  REQUIRE(aliases.add("team-backbone", "resnet50"));
  const auto names = suggest_names(bundled_registry(), aliases, "team-backbon");
  REQUIRE_FALSE(names.empty());
  CHECK(names[0] == "team-backbone");
}

TEST_CASE("suggestions have no duplicates and at most five") {
  for (const auto* query : {"vit", "resnet", "vit_base_patch16_224_in21", "deit3_small", "xcit_tiny_12_p16_224_dst"}) {
    INFO(query);
    const auto names = suggest_names(bundled_registry(), UserAliases{}, query);
    CHECK(names.size() <= k_max_suggestions);
    CHECK(std::set<std::string>(names.begin(), names.end()).size() == names.size());
  }
}

TEST_CASE("tag suggestions rank the closest tag first") {
  const auto* arch = bundled_registry().find_architecture("vit_base_patch16_224");
  REQUIRE(arch != nullptr);
  const auto names = suggest_tags(*arch, "augreg_in21k_ft_in1");
  REQUIRE(names.size() == k_max_suggestions);
  CHECK(names[0] == "vit_base_patch16_224.augreg_in21k_ft_in1k");
}

TEST_CASE("tag suggestions skip tags without weights") {
  const auto* arch = bundled_registry().find_architecture("resnext101_32x4d");
  REQUIRE(arch != nullptr);
  const auto names = suggest_tags(*arch, "untrained");
  CHECK_FALSE(contains(names, "resnext101_32x4d.untrained"));
  CHECK(names.size() == 3);
}

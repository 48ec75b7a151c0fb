#include "daemon/registry/resolver.hpp"

#include "registry_test_support.hpp"

#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <set>

using timmd::proto::Errc;
using timmd::registry::resolve;
using timmd::registry::ResolvedBy;
using timmd::registry::ResolveOptions;
using timmd::registry::UserAliases;
using namespace timmd::registry::test;

namespace {

struct Expected {
  std::string input;
  std::string name;
  std::string repo;
  ResolvedBy resolved_by;
  std::optional<std::string> revision = std::nullopt;
  std::string notice_words = {}; // empty: no notice expected
};

UserAliases test_aliases() {
  auto aliases = UserAliases::from_json({
      {"mybackbone", "convnext_tiny.fb_in22k_ft_in1k"},
      {"old-vit", "vit_base_patch16_224_in21k"},
      {"lab-model", "hf-hub:mylab/detector@v3"},
      {"pinned-resnet", "resnet50.a1_in1k@abc123"},
      {"resnet50", "vit_base_patch16_224"},
  });
  REQUIRE(aliases.has_value());
  return *aliases;
}

// The record a target `arch.tag` or `arch` names in the raw snapshot, as (canonical name, repo).
std::pair<std::string, std::string> raw_target(const std::string& target) {
  const auto dot = target.find('.');
  const auto arch = target.substr(0, dot);
  const auto& raw_arch = raw_timm_registry()["architectures"][arch];
  const auto tag = dot == std::string::npos ? raw_arch["default_tag"].get<std::string>() : target.substr(dot + 1);
  for (const auto& record : raw_arch["tags"]) {
    if (record["tag"] == tag) {
      const auto repo = record["hf_hub_id"].is_null() ? std::string() : record["hf_hub_id"].get<std::string>();
      return {tag.empty() ? arch : arch + "." + tag, repo};
    }
  }
  FAIL("target " << target << " is not in the snapshot");
  return {};
}

} // namespace

TEST_CASE("resolution table covers every path") {
  // One row per name, kept on one line each so the table reads as a table.
  // clang-format off
  const std::vector<Expected> table = {
    // 3. arch.tag found directly.
    {"resnet50.a1_in1k", "resnet50.a1_in1k", "timm/resnet50.a1_in1k", ResolvedBy::direct},
    {"resnet50.tv2_in1k", "resnet50.tv2_in1k", "timm/resnet50.tv2_in1k", ResolvedBy::direct},
    {"resnet50.gluon_in1k", "resnet50.gluon_in1k", "timm/resnet50.gluon_in1k", ResolvedBy::direct},
    {"resnet18.fb_swsl_ig1b_ft_in1k", "resnet18.fb_swsl_ig1b_ft_in1k", "timm/resnet18.fb_swsl_ig1b_ft_in1k", ResolvedBy::direct},
    {"convnext_tiny.fb_in22k_ft_in1k", "convnext_tiny.fb_in22k_ft_in1k", "timm/convnext_tiny.fb_in22k_ft_in1k", ResolvedBy::direct},
    {"convnext_tiny.fb_in1k", "convnext_tiny.fb_in1k", "timm/convnext_tiny.fb_in1k", ResolvedBy::direct},
    {"vit_base_patch16_224.augreg_in1k", "vit_base_patch16_224.augreg_in1k", "timm/vit_base_patch16_224.augreg_in1k", ResolvedBy::direct},
    {"vit_base_patch16_224.sam_in1k", "vit_base_patch16_224.sam_in1k", "timm/vit_base_patch16_224.sam_in1k", ResolvedBy::direct},
    {"efficientnet_b0.ra4_e3600_r224_in1k", "efficientnet_b0.ra4_e3600_r224_in1k", "timm/efficientnet_b0.ra4_e3600_r224_in1k", ResolvedBy::direct},
    {"resnext101_32x4d.gluon_in1k", "resnext101_32x4d.gluon_in1k", "timm/resnext101_32x4d.gluon_in1k", ResolvedBy::direct},
    {"resnext101_32x16d.fb_wsl_ig1b_ft_in1k", "resnext101_32x16d.fb_wsl_ig1b_ft_in1k", "timm/resnext101_32x16d.fb_wsl_ig1b_ft_in1k", ResolvedBy::direct},
    {"davit_base_fl.msft_florence2", "davit_base_fl.msft_florence2", "microsoft/Florence-2-base", ResolvedBy::direct},
    {"rdnet_tiny.nv_in1k", "rdnet_tiny.nv_in1k", "naver-ai/rdnet_tiny.nv_in1k", ResolvedBy::direct},
    {"vit_base_patch32_clip_quickgelu_224.openai", "vit_base_patch32_clip_quickgelu_224.openai", "timm/vit_base_patch32_clip_224.openai", ResolvedBy::direct},
    {"mobilenetv3_large_100.miil_in21k", "mobilenetv3_large_100.miil_in21k", "timm/mobilenetv3_large_100.miil_in21k", ResolvedBy::direct},
    // 4. arch alone takes its default tag, which is not always the first one listed.
    {"resnet50", "resnet50.a1_in1k", "timm/resnet50.a1_in1k", ResolvedBy::default_tag},
    {"resnet18", "resnet18.a1_in1k", "timm/resnet18.a1_in1k", ResolvedBy::default_tag},
    {"convnext_tiny", "convnext_tiny.in12k_ft_in1k", "timm/convnext_tiny.in12k_ft_in1k", ResolvedBy::default_tag},
    {"vit_base_patch16_224", "vit_base_patch16_224.augreg2_in21k_ft_in1k", "timm/vit_base_patch16_224.augreg2_in21k_ft_in1k", ResolvedBy::default_tag},
    {"efficientnet_b0", "efficientnet_b0.ra_in1k", "timm/efficientnet_b0.ra_in1k", ResolvedBy::default_tag},
    {"inception_v3", "inception_v3.tv_in1k", "timm/inception_v3.tv_in1k", ResolvedBy::default_tag},
    {"densenet121", "densenet121.ra_in1k", "timm/densenet121.ra_in1k", ResolvedBy::default_tag},
    {"swin_base_patch4_window7_224", "swin_base_patch4_window7_224.ms_in22k_ft_in1k", "timm/swin_base_patch4_window7_224.ms_in22k_ft_in1k", ResolvedBy::default_tag},
    {"resnext101_32x4d", "resnext101_32x4d.fb_ssl_yfcc100m_ft_in1k", "timm/resnext101_32x4d.fb_ssl_yfcc100m_ft_in1k", ResolvedBy::default_tag},
    {"seresnext101_32x4d", "seresnext101_32x4d.gluon_in1k", "timm/seresnext101_32x4d.gluon_in1k", ResolvedBy::default_tag},
    {"vit_huge_patch14_224", "vit_huge_patch14_224.orig_in21k", "timm/vit_huge_patch14_224.orig_in21k", ResolvedBy::default_tag},
    {"eva02_base_patch14_224", "eva02_base_patch14_224.mim_in22k", "timm/eva02_base_patch14_224.mim_in22k", ResolvedBy::default_tag},
    // 2. deprecated names, including targets that are a bare architecture.
    {"tv_resnet50", "resnet50.tv_in1k", "timm/resnet50.tv_in1k", ResolvedBy::deprecated_alias, std::nullopt, "use 'resnet50.tv_in1k'"},
    {"tf_efficientnet_b0_ap", "tf_efficientnet_b0.ap_in1k", "timm/tf_efficientnet_b0.ap_in1k", ResolvedBy::deprecated_alias, std::nullopt, "deprecated"},
    {"convnext_tiny_in22ft1k", "convnext_tiny.fb_in22k_ft_in1k", "timm/convnext_tiny.fb_in22k_ft_in1k", ResolvedBy::deprecated_alias, std::nullopt, "deprecated"},
    {"swin_base_patch4_window7_224_in22k", "swin_base_patch4_window7_224.ms_in22k", "timm/swin_base_patch4_window7_224.ms_in22k", ResolvedBy::deprecated_alias, std::nullopt, "deprecated"},
    {"efficientnet_b2a", "efficientnet_b2.ra_in1k", "timm/efficientnet_b2.ra_in1k", ResolvedBy::deprecated_alias, std::nullopt, "use 'efficientnet_b2' instead (default tag: 'efficientnet_b2.ra_in1k')"},
    {"mnasnet_a1", "semnasnet_100.rmsp_in1k", "timm/semnasnet_100.rmsp_in1k", ResolvedBy::deprecated_alias, std::nullopt, "use 'semnasnet_100'"},
    {"jx_nest_tiny", "nest_tiny_jx.goog_in1k", "timm/nest_tiny_jx.goog_in1k", ResolvedBy::deprecated_alias, std::nullopt, "use 'nest_tiny_jx'"},
    {"seresnext26tn_32x4d", "seresnext26t_32x4d.bt_in1k", "timm/seresnext26t_32x4d.bt_in1k", ResolvedBy::deprecated_alias, std::nullopt, "deprecated"},
    // Corrected upstream faults (config/registry/overrides.json).
    {"ig_resnext101_32x8d", "resnext101_32x8d.fb_wsl_ig1b_ft_in1k", "timm/resnext101_32x8d.fb_wsl_ig1b_ft_in1k", ResolvedBy::deprecated_alias, std::nullopt, "deprecated"},
    {"ig_resnext101_32x16d", "resnext101_32x16d.fb_wsl_ig1b_ft_in1k", "timm/resnext101_32x16d.fb_wsl_ig1b_ft_in1k", ResolvedBy::deprecated_alias, std::nullopt, "32x8d"},
    {"ig_resnext101_32x32d", "resnext101_32x32d.fb_wsl_ig1b_ft_in1k", "timm/resnext101_32x32d.fb_wsl_ig1b_ft_in1k", ResolvedBy::deprecated_alias, std::nullopt, "32x8d"},
    {"vit_base_patch16_224_sam", "vit_base_patch16_224.sam_in1k", "timm/vit_base_patch16_224.sam_in1k", ResolvedBy::deprecated_alias, std::nullopt, "sam_in1k"},
    {"vit_base_patch32_224_sam", "vit_base_patch32_224.sam_in1k", "timm/vit_base_patch32_224.sam_in1k", ResolvedBy::deprecated_alias, std::nullopt, "sam_in1k"},
    {"resmlp_12_224_dino", "resmlp_12_224.fb_dino", "timm/resmlp_12_224.fb_dino", ResolvedBy::deprecated_alias, std::nullopt, "fb_dino"},
    // 1. Hub repositories, with and without a revision; a listed one gets its registry name.
    {"hf-hub:timm/resnet50.a1_in1k", "resnet50.a1_in1k", "timm/resnet50.a1_in1k", ResolvedBy::hub_repository},
    {"hf-hub:timm/resnet50.a1_in1k@main", "resnet50.a1_in1k", "timm/resnet50.a1_in1k", ResolvedBy::hub_repository, "main"},
    {"timm/resnet50.a1_in1k", "resnet50.a1_in1k", "timm/resnet50.a1_in1k", ResolvedBy::hub_repository},
    {"hf-hub:someorg/custom-model", "hf-hub:someorg/custom-model", "someorg/custom-model", ResolvedBy::hub_repository},
    {"hf-hub:someorg/custom-model@v1.0", "hf-hub:someorg/custom-model", "someorg/custom-model", ResolvedBy::hub_repository, "v1.0"},
    {"someorg/Custom_Model@0123abcd", "hf-hub:someorg/Custom_Model", "someorg/Custom_Model", ResolvedBy::hub_repository, "0123abcd"},
    {"hf-hub:timm/vit_base_patch32_clip_224.openai", "vit_base_patch32_clip_224.openai", "timm/vit_base_patch32_clip_224.openai", ResolvedBy::hub_repository},
    {"hf_hub:microsoft/Florence-2-base", "davit_base_fl.msft_florence2", "microsoft/Florence-2-base", ResolvedBy::hub_repository},
    // Revisions on registry names.
    {"resnet50.a1_in1k@abc123", "resnet50.a1_in1k", "timm/resnet50.a1_in1k", ResolvedBy::direct, "abc123"},
    {"convnext_tiny@refs/pr/4", "convnext_tiny.in12k_ft_in1k", "timm/convnext_tiny.in12k_ft_in1k", ResolvedBy::default_tag, "refs/pr/4"},
    // 5. User aliases; a registry name wins over an alias of the same spelling.
    {"mybackbone", "convnext_tiny.fb_in22k_ft_in1k", "timm/convnext_tiny.fb_in22k_ft_in1k", ResolvedBy::user_alias},
    {"MyBackbone", "convnext_tiny.fb_in22k_ft_in1k", "timm/convnext_tiny.fb_in22k_ft_in1k", ResolvedBy::user_alias, std::nullopt, "lower case"},
    {"old-vit", "vit_base_patch16_224.augreg_in21k", "timm/vit_base_patch16_224.augreg_in21k", ResolvedBy::user_alias, std::nullopt, "deprecated"},
    {"lab-model", "hf-hub:mylab/detector", "mylab/detector", ResolvedBy::user_alias, "v3"},
    {"pinned-resnet", "resnet50.a1_in1k", "timm/resnet50.a1_in1k", ResolvedBy::user_alias, "abc123"},
    {"pinned-resnet@def456", "resnet50.a1_in1k", "timm/resnet50.a1_in1k", ResolvedBy::user_alias, "def456"},
    // 6. Known architecture, tag unknown to this registry: to be confirmed on the Hub.
    {"resnet50.a4_in1k", "resnet50.a4_in1k", "timm/resnet50.a4_in1k", ResolvedBy::unverified_tag, std::nullopt, "to be confirmed on the Hub"},
    {"convnext_tiny.new_tag_2027", "convnext_tiny.new_tag_2027", "timm/convnext_tiny.new_tag_2027", ResolvedBy::unverified_tag, std::nullopt, "to be confirmed on the Hub"},
    // Upper case and stray whitespace are normalised.
    {"ResNet50.A1_IN1K", "resnet50.a1_in1k", "timm/resnet50.a1_in1k", ResolvedBy::direct, std::nullopt, "Read the name as 'resnet50.a1_in1k'"},
    {"  resnet50  ", "resnet50.a1_in1k", "timm/resnet50.a1_in1k", ResolvedBy::default_tag},
    {"\tconvnext_tiny.fb_in1k\n", "convnext_tiny.fb_in1k", "timm/convnext_tiny.fb_in1k", ResolvedBy::direct},
    {" TV_ResNet50 ", "resnet50.tv_in1k", "timm/resnet50.tv_in1k", ResolvedBy::deprecated_alias, std::nullopt, "lower case"},
    {"HF-HUB:timm/resnet50.a1_in1k", "resnet50.a1_in1k", "timm/resnet50.a1_in1k", ResolvedBy::hub_repository},
  };
  // clang-format on
  CHECK(table.size() >= 60);

  std::set<ResolvedBy> paths;
  const auto aliases = test_aliases();
  for (const auto& expected : table) {
    INFO("name: '" << expected.input << "'");
    const auto resolution = resolve(bundled_registry(), expected.input, aliases);
    REQUIRE_MESSAGE(resolution.has_value(), (resolution ? std::string() : resolution.error().message));
    CHECK(resolution->name == expected.name);
    CHECK(resolution->repo == expected.repo);
    CHECK(resolution->resolved_by == expected.resolved_by);
    CHECK(resolution->revision == expected.revision);
    if (expected.notice_words.empty()) {
      CHECK_FALSE(resolution->notice);
    } else {
      REQUIRE(resolution->notice);
      INFO("notice: " << *resolution->notice);
      CHECK(resolution->notice->find(expected.notice_words) != std::string::npos);
    }
    paths.insert(resolution->resolved_by);
  }
  CHECK(paths.size() == 6);
}

TEST_CASE("deprecated names reach their targets") {
  const auto& raw = raw_timm_registry();
  const auto& corrected = raw_overrides()["deprecations"];
  std::map<std::string, int> per_module;
  for (const auto& [old_name, target_json] : raw["deprecations"].items()) {
    if (corrected.contains(old_name)) {
      continue; // test_overrides.cpp checks these one by one
    }
    const auto target = target_json.get<std::string>();
    const auto [expected_name, expected_repo] = raw_target(target);
    INFO(old_name << " -> " << target);
    const auto resolution = resolve(bundled_registry(), old_name, UserAliases{});
    if (expected_repo.empty()) {
      // The only such target is legacy_xception, whose weights are at a direct URL.
      REQUIRE_FALSE(resolution);
      CHECK(resolution.error().code == Errc::not_found);
      CHECK(resolution.error().message.find("direct URL") != std::string::npos);
      CHECK(resolution.error().message.find("deprecated name '" + old_name + "'") != std::string::npos);
      continue;
    }
    REQUIRE_MESSAGE(resolution.has_value(), (resolution ? std::string() : resolution.error().message));
    CHECK(resolution->name == expected_name);
    CHECK(resolution->repo == expected_repo);
    CHECK(resolution->resolved_by == ResolvedBy::deprecated_alias);
    REQUIRE(resolution->notice);
    CHECK(resolution->notice->find("'" + target + "'") != std::string::npos);
    ++per_module[raw["deprecation_modules"][old_name].get<std::string>()];
  }
  CHECK(per_module.size() >= 5);
  CHECK(per_module["resnet"] >= 40);
  CHECK(per_module["xcit"] == 28);
}

TEST_CASE("bare architectures take their default tag") {
  for (const auto& arch : bundled_registry().architectures()) {
    const auto& record = arch.default_record();
    if (!record.hf_hub_id) {
      continue;
    }
    INFO(arch.name);
    const auto resolution = resolve(bundled_registry(), arch.name, UserAliases{});
    REQUIRE(resolution);
    CHECK(resolution->name == arch.canonical_name(record));
    CHECK(resolution->repo == *record.hf_hub_id);
    CHECK(resolution->resolved_by == ResolvedBy::default_tag);
  }
}

TEST_CASE("resolution carries the registry's pretrained cfg") {
  const auto resolution = resolve(bundled_registry(), "resnext101_32x4d", UserAliases{});
  REQUIRE(resolution);
  REQUIRE(resolution->pretrained_cfg);
  const auto& cfg = *resolution->pretrained_cfg;
  CHECK(cfg.num_classes == 1000);
  CHECK(cfg.interpolation == "bilinear");
  CHECK(cfg.crop_pct == doctest::Approx(0.875));
  CHECK(cfg.first_conv.names == std::vector<std::string>{"conv1"});
  CHECK(cfg.classifier.names == std::vector<std::string>{"fc"});
  CHECK(cfg.license == "cc-by-nc-4.0");
  CHECK(cfg.mean == std::vector<double>{0.485, 0.456, 0.406});
}

TEST_CASE("resolution json has the documented fields") {
  const auto resolution = resolve(bundled_registry(), "tv_resnet50", UserAliases{});
  REQUIRE(resolution);
  const auto json = resolution->to_json();
  CHECK(json["name"] == "resnet50.tv_in1k");
  CHECK(json["repo"] == "timm/resnet50.tv_in1k");
  CHECK(json["revision"].is_null());
  CHECK(json["resolved_by"] == "deprecated_alias");
  CHECK(json["notice"].is_string());
  CHECK(json["file"].is_null());
  CHECK(json["pretrained_cfg"]["input_size"] == nlohmann::json{3, 224, 224});
  CHECK(json["pretrained_cfg"]["std"].size() == 3);
  CHECK(json["pretrained_cfg"]["license"] == "bsd-3-clause");
  CHECK_FALSE(json.contains("suggestions"));
}

TEST_CASE("resolution json of an unlisted repository") {
  const auto resolution = resolve(bundled_registry(), "hf-hub:someorg/model@v2", UserAliases{});
  REQUIRE(resolution);
  const auto json = resolution->to_json();
  CHECK(json["revision"] == "v2");
  CHECK(json["resolved_by"] == "hub_repository");
  CHECK(json["pretrained_cfg"].is_null());
  CHECK(json["notice"].is_null());
}

TEST_CASE("unverified tag lists the closest known tags") {
  const auto resolution = resolve(bundled_registry(), "resnet50.a1_in2k", UserAliases{});
  REQUIRE(resolution);
  CHECK(resolution->needs_hub_confirmation());
  CHECK_FALSE(resolution->pretrained_cfg);
  REQUIRE_FALSE(resolution->suggestions.empty());
  CHECK(resolution->suggestions.front() == "resnet50.a1_in1k");
  CHECK(resolution->to_json()["suggestions"].size() == resolution->suggestions.size());
}

TEST_CASE("unknown tag is not found when unverified tags are off") {
  ResolveOptions options;
  options.allow_unverified_tags = false;
  const auto resolution = resolve(bundled_registry(), "resnet50.a1_in1kk", UserAliases{}, options);
  REQUIRE_FALSE(resolution);
  CHECK(resolution.error().code == Errc::not_found);
  const auto error = resolution.error();
  const auto& suggestions = error.details["suggestions"];
  REQUIRE_FALSE(suggestions.empty());
  CHECK(suggestions[0] == "resnet50.a1_in1k");
  CHECK(resolution.error().message.find("has no tag 'a1_in1kk'") != std::string::npos);
  CHECK(resolution.error().message.find("did you mean 'resnet50.a1_in1k'") != std::string::npos);
}

TEST_CASE("typo is not found with suggestions") {
  const auto resolution = resolve(bundled_registry(), "resnet5O", UserAliases{});
  REQUIRE_FALSE(resolution);
  CHECK(resolution.error().code == Errc::not_found);
  const auto error = resolution.error();
  const auto& suggestions = error.details["suggestions"];
  REQUIRE_FALSE(suggestions.empty());
  CHECK(suggestions.size() <= 5);
  CHECK(suggestions[0] == "resnet50");
  CHECK(resolution.error().details["name"] == "resnet5o");
  CHECK(resolution.error().message.find("'resnet50'") != std::string::npos);
}

TEST_CASE("typo in the architecture keeps the tag in suggestions") {
  const auto resolution = resolve(bundled_registry(), "convnxt_tiny.fb_in1k", UserAliases{});
  REQUIRE_FALSE(resolution);
  const auto error = resolution.error();
  const auto& suggestions = error.details["suggestions"];
  REQUIRE_FALSE(suggestions.empty());
  CHECK(suggestions[0] == "convnext_tiny.fb_in1k");
  CHECK(resolution.error().message.find("hf-hub:timm/convnxt_tiny.fb_in1k") != std::string::npos);
}

TEST_CASE("name without any close match has no suggestions") {
  const auto resolution = resolve(bundled_registry(), "zzzzqqqq", UserAliases{});
  REQUIRE_FALSE(resolution);
  CHECK(resolution.error().code == Errc::not_found);
  CHECK(resolution.error().details["suggestions"].empty());
}

TEST_CASE("tag without weights is not found") {
  const auto resolution = resolve(bundled_registry(), "resnext101_32x4d.untrained", UserAliases{});
  REQUIRE_FALSE(resolution);
  CHECK(resolution.error().code == Errc::not_found);
  CHECK(resolution.error().message.find("no pretrained weights") != std::string::npos);
  CHECK(resolution.error().details["suggestions"][0].get<std::string>().starts_with("resnext101_32x4d."));
}

TEST_CASE("architecture without weights is not found") {
  for (const auto* name : {"botnet50ts_256", "nfnet_f0"}) {
    INFO(name);
    const auto resolution = resolve(bundled_registry(), name, UserAliases{});
    REQUIRE_FALSE(resolution);
    CHECK(resolution.error().code == Errc::not_found);
    CHECK(resolution.error().message.find("pretrained=False") != std::string::npos);
  }
}

TEST_CASE("weights at a direct URL are not found on the Hub") {
  const auto resolution = resolve(bundled_registry(), "gcvit_tiny.in1k", UserAliases{});
  REQUIRE_FALSE(resolution);
  CHECK(resolution.error().code == Errc::not_found);
  CHECK(resolution.error().details["url"].get<std::string>().starts_with("https://"));
}

TEST_CASE("malformed names are invalid requests") {
  for (const auto* name : {"", "resnet 50", "local-dir:/models/x", "a/b/c", "resnet50@"}) {
    INFO("name: '" << name << "'");
    const auto resolution = resolve(bundled_registry(), name, UserAliases{});
    REQUIRE_FALSE(resolution);
    CHECK(resolution.error().code == Errc::invalid_request);
  }
}

TEST_CASE("alias with an unresolvable target names the alias") {
  UserAliases aliases;
  REQUIRE(aliases.add("broken", "resnet5O"));
  const auto resolution = resolve(bundled_registry(), "broken", aliases);
  REQUIRE_FALSE(resolution);
  CHECK(resolution.error().code == Errc::not_found);
  CHECK(resolution.error().details["alias"] == "broken");
  CHECK(resolution.error().message.find("alias 'broken'") != std::string::npos);
}

TEST_CASE("alias targets do not chain through other aliases") {
  UserAliases aliases;
  REQUIRE(aliases.add("first", "second"));
  REQUIRE(aliases.add("second", "resnet50"));
  CHECK(resolve(bundled_registry(), "second", aliases));
  CHECK_FALSE(resolve(bundled_registry(), "first", aliases));
}

#include "daemon/registry/registry.hpp"

#include "registry_test_support.hpp"

#include <doctest/doctest.h>

#include <set>

using timmd::registry::default_by_timm_rule;
using timmd::registry::Registry;
using namespace timmd::registry::test;

TEST_CASE("bundled registry matches the snapshot counts") {
  const auto& registry = bundled_registry();
  const auto& counts = raw_timm_registry()["counts"];
  CHECK(registry.architectures().size() == counts["architectures"].get<std::size_t>());
  CHECK(registry.tag_count() == counts["arch_tag_entries"].get<std::size_t>());
  CHECK(registry.deprecations().size() == counts["deprecations"].get<std::size_t>());
  CHECK(registry.timm_version() == raw_timm_registry()["source"]["version"].get<std::string>());
  CHECK(registry.files().size() == 2);
}

TEST_CASE("bundled registry keeps every record of the snapshot") {
  const auto& registry = bundled_registry();
  for (const auto& [name, raw] : raw_timm_registry()["architectures"].items()) {
    const auto* arch = registry.find_architecture(name);
    REQUIRE_MESSAGE(arch != nullptr, name);
    CHECK(arch->module == raw["module"].get<std::string>());
    CHECK(arch->default_tag == raw["default_tag"].get<std::string>());
    CHECK(arch->has_pretrained() == raw["has_pretrained"].get<bool>());
    REQUIRE(arch->tags.size() == raw["tags"].size());
    for (std::size_t i = 0; i < arch->tags.size(); ++i) {
      const auto& record = arch->tags[i];
      const auto& raw_record = raw["tags"][i];
      INFO(name << "." << record.tag);
      CHECK(record.tag == raw_record["tag"].get<std::string>());
      CHECK(record.has_weights() == raw_record["has_weights"].get<bool>());
      const bool raw_has_hub_id =
          raw_record["hf_hub_id"].is_string() && !raw_record["hf_hub_id"].get<std::string>().empty();
      CHECK(record.hf_hub_id.has_value() == raw_has_hub_id);
      CHECK(record.pretrained_cfg.num_classes == raw_record["num_classes"].get<int>());
      CHECK(record.pretrained_cfg.to_json()["input_size"] == raw_record["input_size"]);
      CHECK(record.pretrained_cfg.to_json()["first_conv"] == raw_record["first_conv"]);
      CHECK(record.pretrained_cfg.to_json()["classifier"] == raw_record["classifier"]);
      CHECK(record.pretrained_cfg.to_json()["license"] == raw_record["license"]);
    }
  }
}

TEST_CASE("empty hub id in the snapshot means no weights") {
  const auto* arch = bundled_registry().find_architecture("vit_huge_patch14_clip_336");
  REQUIRE(arch != nullptr);
  const auto* record = arch->find_tag("laion2b_ft_in1k");
  REQUIRE(record != nullptr);
  CHECK_FALSE(record->hf_hub_id);
  CHECK_FALSE(record->has_weights());
}

TEST_CASE("snapshot default tags follow timm's rule") {
  std::set<std::string> not_first;
  for (const auto& arch : bundled_registry().architectures()) {
    INFO(arch.name);
    CHECK(default_by_timm_rule(arch.tags).tag == arch.default_tag);
    if (arch.tags.front().tag != arch.default_tag) {
      not_first.insert(arch.name);
    }
  }
  CHECK(not_first == std::set<std::string>{"resnext101_32x4d", "seresnext101_32x4d", "vit_huge_patch14_224"});
}

TEST_CASE("overrides leave no unresolved deprecation") {
  CHECK(bundled_registry().unresolved_deprecations().empty());
}

TEST_CASE("snapshot alone has the two upstream sam faults") {
  const auto loaded = Registry::load({registry_dir() / "timm-registry.json"});
  REQUIRE(loaded);
  const auto& unresolved = (*loaded)->unresolved_deprecations();
  REQUIRE(unresolved.size() == 2);
  CHECK(unresolved[0].find("vit_base_patch16_224_sam") != std::string::npos);
  CHECK(unresolved[1].find("vit_base_patch32_224_sam") != std::string::npos);
}

TEST_CASE("hub index prefers the matching name") {
  const auto found = bundled_registry().find_hub_repository("timm/vit_base_patch32_clip_224.openai");
  REQUIRE(found);
  CHECK(found->architecture->name == "vit_base_patch32_clip_224");
  CHECK(found->record->tag == "openai");
}

TEST_CASE("hub index covers other organisations") {
  const auto found = bundled_registry().find_hub_repository("microsoft/Florence-2-base");
  REQUIRE(found);
  CHECK(found->architecture->name == "davit_base_fl");
  CHECK_FALSE(bundled_registry().find_hub_repository("microsoft/florence-2-base"));
}

TEST_CASE("lookups miss on unknown names") {
  CHECK(bundled_registry().find_architecture("resnet5O") == nullptr);
  CHECK(bundled_registry().find_deprecation("resnet50") == nullptr);
  CHECK(bundled_registry().find_architecture("resnet50")->find_tag("nope") == nullptr);
}

TEST_CASE("load without files is rejected") {
  const auto loaded = Registry::load({});
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().code == timmd::proto::Errc::invalid_request);
}

TEST_CASE("bundled file list is data then overrides") {
  const auto files = timmd::registry::bundled_registry_files("/etc/timmd/registry");
  REQUIRE(files.size() == 2);
  CHECK(files[0] == "/etc/timmd/registry/timm-registry.json");
  CHECK(files[1] == "/etc/timmd/registry/overrides.json");
}

#include "daemon/registry/registry_file.hpp"

#include "daemon/registry/registry.hpp"
#include "daemon/registry/resolver.hpp"
#include "registry_test_support.hpp"

#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

using timmd::proto::Errc;
using timmd::registry::Registry;
using timmd::registry::UserAliases;
using namespace timmd::registry::test;

namespace {

struct Rejection {
  std::string file;
  int line;
  std::string field;
  std::string words; // a phrase the message must contain
};

constexpr std::string_view k_base = R"({
  "source": {"version": "9.9.9"},
  "architectures": {
    "tinynet": {
      "module": "tiny",
      "default_tag": "in1k",
      "tags": [
        {"tag": "in1k", "hf_hub_id": "timm/tinynet.in1k", "num_classes": 1000, "interpolation": "bilinear"},
        {"tag": "in22k", "hf_hub_id": "timm/tinynet.in22k", "num_classes": 21843}
      ]
    }
  },
  "deprecations": {"tinynet_in22k": "tinynet.in22k"},
  "deprecation_modules": {"tinynet_in22k": "tiny"}
})";

std::shared_ptr<const Registry> load_ok(const std::vector<std::filesystem::path>& files) {
  auto loaded = Registry::load(files);
  REQUIRE_MESSAGE(loaded.has_value(), (loaded ? std::string() : loaded.error().message));
  return *loaded;
}

} // namespace

TEST_CASE("broken registry files are rejected with line and field") {
  const std::vector<Rejection> cases = {
      {"trailing_comma.json", 6, "architectures.tinynet.tags[0]", "invalid JSON"},
      {"truncated.json", 7, "architectures.tinynet.tags[0]", "invalid JSON"},
      {"wrong_type_num_classes.json", 8, "architectures.tinynet.tags[1].num_classes", "expected an integer"},
      {"wrong_type_input_size.json", 6, "architectures.tinynet.tags[0].input_size", "a list of 3 positive integers"},
      {"misspelt_field.json", 7, "architectures.tinynet.tags[0].hf_hubid", "unknown field 'hf_hubid'"},
      {"duplicate_architecture.json", 4, "architectures.tinynet", "duplicate key"},
      {"default_tag_not_listed.json", 5, "architectures.tinynet.default_tag", "default tag 'in21k'"},
      {"bad_hub_id.json", 4, "architectures.tinynet.tags[0].hf_hub_id", "ORG/REPO"},
      {"upper_case_architecture.json", 3, "architectures.TinyNet", "a-z, 0-9"},
      {"withdrawn_without_notice.json", 3, "deprecations.old_tinynet.notice", "needs a 'notice'"},
      {"not_an_object.json", 1, "", "expected an object"},
  };
  for (const auto& expected : cases) {
    INFO(expected.file);
    const auto path = corpus_dir() / expected.file;
    const auto loaded = Registry::load({path});
    REQUIRE_FALSE(loaded);
    const auto& error = loaded.error();
    INFO(error.message);
    CHECK(error.code == Errc::invalid_request);
    CHECK(error.message.find(path.string()) != std::string::npos);
    CHECK(error.message.find("line " + std::to_string(expected.line)) != std::string::npos);
    CHECK(error.message.find(expected.words) != std::string::npos);
    CHECK(error.details["file"] == path.string());
    CHECK(error.details["line"] == expected.line);
    CHECK(error.details["field"] == expected.field);
    if (!expected.field.empty()) {
      CHECK(error.message.find("'" + expected.field + "'") != std::string::npos);
    }
  }
}

TEST_CASE("registry file with a number beyond a double is rejected") {
  timmd::testing::TempDir dir;
  const auto path = dir / "huge_number.json";
  timmd::testing::write_file(path, R"({"source": {"version": 1e999999}, "architectures": {}})");
  const auto loaded = Registry::load({path});
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().code == Errc::invalid_request);
  CHECK(loaded.error().message.find(path.string()) != std::string::npos);
  CHECK(loaded.error().message.find("invalid JSON") != std::string::npos);
}

TEST_CASE("missing registry file is rejected with its path") {
  const auto loaded = Registry::load({"/nonexistent/timm-registry.json"});
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().code == Errc::invalid_request);
  CHECK(loaded.error().message.find("/nonexistent/timm-registry.json") != std::string::npos);
}

TEST_CASE("wrong type in the real snapshot names its line") {
  std::ifstream in(registry_dir() / "timm-registry.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string needle = "\"crop_pct\": 0.95";
  const auto at = text.find(needle);
  REQUIRE(at != std::string::npos);
  text.replace(at, needle.size(), "\"crop_pct\": \"0.95\"");
  const auto expected_line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');

  TempDir dir;
  const auto loaded = Registry::load({dir.write("timm-registry.json", text)});
  REQUIRE_FALSE(loaded);
  INFO(loaded.error().message);
  CHECK(loaded.error().details["line"] == expected_line);
  CHECK(loaded.error().details["field"].get<std::string>().ends_with(".crop_pct"));
}

TEST_CASE("override file adds an architecture") {
  TempDir dir;
  const auto base = dir.write("base.json", k_base);
  const auto overlay = dir.write("local.json", R"({
    "architectures": {
      "mynet": {
        "module": "local",
        "tags": [
          {"tag": "untrained"},
          {"tag": "lab_v1", "hf_hub_id": "mylab/mynet-v1", "num_classes": 7, "reason": "our fine-tune"}
        ]
      }
    }
  })");
  const auto registry = load_ok({base, overlay});
  const auto* arch = registry->find_architecture("mynet");
  REQUIRE(arch != nullptr);
  CHECK(arch->default_tag == "lab_v1");
  CHECK(arch->tags.size() == 2);
  const auto& record = arch->default_record();
  CHECK(*record.hf_hub_id == "mylab/mynet-v1");
  CHECK(record.pretrained_cfg.num_classes == 7);
  CHECK(record.pretrained_cfg.input_size == std::array<int, 3>{3, 224, 224});
  CHECK(record.pretrained_cfg.interpolation == "bicubic");

  const auto resolved = timmd::registry::resolve(*registry, "mynet", UserAliases{});
  REQUIRE(resolved);
  CHECK(resolved->name == "mynet.lab_v1");
  CHECK(resolved->repo == "mylab/mynet-v1");
}

TEST_CASE("override file replaces fields of an existing tag") {
  TempDir dir;
  const auto base = dir.write("base.json", k_base);
  const auto overlay = dir.write("mirror.json", R"({
    "architectures": {
      "tinynet": {"tags": [{"tag": "in1k", "hf_hub_id": "mirror/tinynet@v2", "notice": "Served from the lab mirror."}]}
    }
  })");
  const auto registry = load_ok({base, overlay});
  const auto* arch = registry->find_architecture("tinynet");
  REQUIRE(arch != nullptr);
  CHECK(arch->tags.size() == 2);
  CHECK(arch->module == "tiny");
  const auto* record = arch->find_tag("in1k");
  CHECK(*record->hf_hub_id == "mirror/tinynet");
  CHECK(*record->hf_hub_revision == "v2");
  CHECK(record->pretrained_cfg.interpolation == "bilinear");

  const auto resolved = timmd::registry::resolve(*registry, "tinynet.in1k", UserAliases{});
  REQUIRE(resolved);
  CHECK(resolved->repo == "mirror/tinynet");
  CHECK(*resolved->revision == "v2");
  CHECK(*resolved->notice == "Served from the lab mirror.");
}

TEST_CASE("override file adds a tag and changes the default") {
  TempDir dir;
  const auto base = dir.write("base.json", k_base);
  const auto overlay = dir.write("newer.json", R"({
    "architectures": {
      "tinynet": {"default_tag": "in12k", "tags": [{"tag": "in12k", "hf_hub_id": "timm/tinynet.in12k", "num_classes": 11821}]}
    }
  })");
  const auto registry = load_ok({base, overlay});
  const auto* arch = registry->find_architecture("tinynet");
  REQUIRE(arch->tags.size() == 3);
  CHECK(arch->tags.back().tag == "in12k");
  CHECK(arch->default_tag == "in12k");
  CHECK(arch->default_record().pretrained_cfg.num_classes == 11821);
}

TEST_CASE("override file replaces and withdraws deprecations") {
  TempDir dir;
  const auto base = dir.write("base.json", k_base);
  const auto overlay = dir.write("deprecations.json", R"({
    "deprecations": {
      "tinynet_in22k": {"target": "tinynet.in1k", "reason": "test"},
      "tinynet_old": {"target": null, "notice": "Use tinynet.in1k.", "reason": "test"}
    }
  })");
  const auto registry = load_ok({base, overlay});
  const auto* replaced = registry->find_deprecation("tinynet_in22k");
  REQUIRE(replaced != nullptr);
  CHECK(*replaced->target == "tinynet.in1k");
  CHECK(replaced->module == "tiny");
  const auto* withdrawn = registry->find_deprecation("tinynet_old");
  REQUIRE(withdrawn != nullptr);
  CHECK_FALSE(withdrawn->target);
}

TEST_CASE("replaced deprecation drops the old notice") {
  TempDir dir;
  const auto base = dir.write("base.json", k_base);
  const auto first = dir.write(
      "first.json", R"({"deprecations": {"tinynet_in22k": {"target": "tinynet.in1k", "notice": "Moved to in1k."}}})");
  const auto second = dir.write("second.json", R"({"deprecations": {"tinynet_in22k": "tinynet.in22k"}})");
  const auto registry = load_ok({base, first, second});
  const auto* deprecation = registry->find_deprecation("tinynet_in22k");
  REQUIRE(deprecation != nullptr);
  CHECK(*deprecation->target == "tinynet.in22k");
  CHECK_FALSE(deprecation->notice);
  CHECK(deprecation->module == "tiny");
}

TEST_CASE("later override file wins over an earlier one") {
  TempDir dir;
  const auto base = dir.write("base.json", k_base);
  const auto first =
      dir.write("first.json", R"({"architectures": {"tinynet": {"tags": [{"tag": "in1k", "num_classes": 5}]}}})");
  const auto second =
      dir.write("second.json", R"({"architectures": {"tinynet": {"tags": [{"tag": "in1k", "num_classes": 6}]}}})");
  CHECK(load_ok({base, first, second})->find_architecture("tinynet")->find_tag("in1k")->pretrained_cfg.num_classes ==
        6);
  CHECK(load_ok({base, second, first})->find_architecture("tinynet")->find_tag("in1k")->pretrained_cfg.num_classes ==
        5);
}

TEST_CASE("error in a later file names that file") {
  TempDir dir;
  const auto base = dir.write("base.json", k_base);
  const auto broken = dir.write(
      "broken.json", "{\n  \"architectures\": {\"tinynet\": {\"tags\": [{\"tag\": \"in1k\", \"crop_pct\": -1}]}}\n}\n");
  const auto loaded = Registry::load({base, broken});
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().details["file"] == broken.string());
  CHECK(loaded.error().details["line"] == 2);
  CHECK(loaded.error().details["field"] == "architectures.tinynet.tags[0].crop_pct");
}

TEST_CASE("tag listed twice in one file is rejected") {
  TempDir dir;
  const auto file =
      dir.write("twice.json", R"({"architectures": {"tinynet": {"tags": [{"tag": "a"}, {"tag": "a"}]}}})");
  const auto loaded = Registry::load({file});
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().details["field"] == "architectures.tinynet.tags[1].tag");
}

TEST_CASE("deprecation module for an unknown name is rejected") {
  TempDir dir;
  const auto file = dir.write("modules.json", R"({"deprecation_modules": {"nothing": "resnet"}})");
  const auto loaded = Registry::load({file});
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().details["field"] == "deprecation_modules.nothing");
}

TEST_CASE("unknown top-level section is rejected") {
  TempDir dir;
  const auto file = dir.write("sections.json", R"({"architecture": {}})");
  const auto loaded = Registry::load({file});
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().message.find("unknown section 'architecture'") != std::string::npos);
}

#include "daemon/remap/rule_file.hpp"

#include "remap_test_support.hpp"

#include <doctest/doctest.h>

#include "tests/support/temp_dir.hpp"

#include <set>

namespace timmd::remap {
namespace {

proto::Error parse_error(const std::string& text) {
  auto parsed = parse_rule_file(text, "broken.json");
  REQUIRE_FALSE(parsed.has_value());
  CHECK(parsed.error().code == proto::Errc::invalid_request);
  CHECK(parsed.error().message.find("broken.json") != std::string::npos);
  return parsed.error();
}

TEST_CASE("every shipped rule file loads and each family has one") {
  const auto& rules = test::shipped_rules();
  std::set<std::string> families;
  for (const auto& file : rules.files()) {
    families.insert(file.family);
    CHECK(file.version.size() == 64);
  }
  for (const auto* family : {"vit", "convnext", "swin", "swinv2", "beit", "resnet", "efficientnet"}) {
    CHECK(families.contains(family));
  }
}

TEST_CASE("the architecture selects the rule file with the longest matching glob") {
  const auto& rules = test::shipped_rules();
  const auto family = [&](const std::string& arch) {
    const auto* file = rules.select(arch);
    return file == nullptr ? std::string("generic") : file->family;
  };
  CHECK(family("vit_base_patch16_224") == "vit");
  CHECK(family("deit_small_distilled_patch16_224") == "vit");
  CHECK(family("convnextv2_tiny") == "convnext");
  CHECK(family("swinv2_tiny_window8_256") == "swinv2");
  CHECK(family("swin_base_patch4_window12_384") == "swin");
  CHECK(family("resnet50") == "resnet");
  CHECK(family("efficientnet_b0") == "efficientnet");
  CHECK(family("beitv2_base_patch16_224") == "beit");
  CHECK(family("some_unknown_net") == "generic");
}

TEST_CASE("errors name the file, the step and the field") {
  auto error = parse_error(R"({"family": "x", "architectures": ["x*"], "steps": [
    {"op": "drop", "keys": ["a"]},
    {"op": "if", "when": {"has_key": "a"}, "then": [{"op": "rename", "pattern": "(a", "to": "b"}]}]})");
  CHECK(error.message.find("step 1 (if) then step 0 (rename)") != std::string::npos);
  CHECK(error.message.find("field 'pattern'") != std::string::npos);
  CHECK(error.details["field"] == "pattern");

  error = parse_error(R"({"family": "x", "architectures": ["x*"], "steps": [{"op": "frobnicate"}]})");
  CHECK(error.message.find("'frobnicate' is not an operation") != std::string::npos);

  error = parse_error(R"({"family": "x", "architectures": ["x*"], "steps": [{"op": "rename", "pattern": "a", "to": "\\2"}]})");
  CHECK(error.message.find("group 2 does not exist") != std::string::npos);

  error = parse_error(R"({"family": "x", "architectures": ["x*"], "steps": [{"op": "drop", "pattern": "a", "keyz": 1}]})");
  CHECK(error.message.find("field 'keyz': is not a field of 'drop'") != std::string::npos);

  error = parse_error(R"({"family": "x", "architectures": ["x*"], "steps": [{"op": "permute", "pattern": "a", "dims": [0, 0]}]})");
  CHECK(error.message.find("permutation") != std::string::npos);

  error = parse_error(R"({"family": "x", "architectures": [], "steps": []})");
  CHECK(error.details["field"] == "architectures");

  error = parse_error(R"({"family": "x", "architectures": ["x"], "steps": [], "extra": 1})");
  CHECK(error.details["field"] == "extra");

  error = parse_error("{not json");
  CHECK(error.message.find("not valid JSON") != std::string::npos);

  error = parse_error(R"({"family": 1e999999})");
  CHECK(error.message.find("not valid JSON") != std::string::npos);

  error = parse_error(R"({"family": "x", "architectures": ["x*"], "steps": [{"op": "if", "then": []}]})");
  CHECK(error.message.find("needs a 'when'") != std::string::npos);
}

TEST_CASE("a directory load fails on its first invalid file, and load_valid keeps the others") {
  testing::TempDir dir;
  testing::write_file(dir / "a_good.json", R"({"family": "good", "architectures": ["good*"], "steps": []})");
  testing::write_file(dir / "b_bad.json", R"({"family": "bad", "architectures": ["bad*"], "steps": [{"op": "nope"}]})");
  auto strict = RuleSet::load(dir.path());
  REQUIRE_FALSE(strict.has_value());
  CHECK(strict.error().message.find("b_bad.json") != std::string::npos);

  std::vector<proto::Error> rejected;
  auto lenient = RuleSet::load_valid(dir.path(), rejected);
  CHECK(lenient.files().size() == 1);
  REQUIRE(rejected.size() == 1);
  CHECK(rejected.front().message.find("b_bad.json") != std::string::npos);
}

TEST_CASE("the version is the SHA-256 of the file's bytes") {
  auto a = parse_rule_file(R"({"family": "x", "architectures": ["x"], "steps": []})", "a.json");
  auto b = parse_rule_file(R"({"family": "x", "architectures": ["x"],  "steps": []})", "a.json");
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(a->version != b->version);
}

} // namespace
} // namespace timmd::remap

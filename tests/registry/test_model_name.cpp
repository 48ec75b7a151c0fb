#include "daemon/registry/model_name.hpp"

#include <doctest/doctest.h>

using timmd::proto::Errc;
using timmd::registry::check_repo_id;
using timmd::registry::NameKind;
using timmd::registry::parse_model_name;

TEST_CASE("model name arch and tag") {
  const auto name = parse_model_name("resnet50.a1_in1k");
  REQUIRE(name);
  CHECK(name->kind == NameKind::registry);
  CHECK(name->arch() == "resnet50");
  REQUIRE(name->tag());
  CHECK(*name->tag() == "a1_in1k");
  CHECK_FALSE(name->revision);
  CHECK_FALSE(name->case_folded);
}

TEST_CASE("model name bare arch has no tag") {
  const auto name = parse_model_name("resnet50");
  REQUIRE(name);
  CHECK(name->arch() == "resnet50");
  CHECK_FALSE(name->tag());
}

TEST_CASE("model name splits tag at the first dot") {
  const auto name = parse_model_name("a.b.c");
  REQUIRE(name);
  CHECK(name->arch() == "a");
  CHECK(*name->tag() == "b.c");
}

TEST_CASE("model name folds case and trims whitespace") {
  const auto name = parse_model_name(" \tResNet50.A1_IN1K\n");
  REQUIRE(name);
  CHECK(name->name == "resnet50.a1_in1k");
  CHECK(name->case_folded);
}

TEST_CASE("model name keeps revision case") {
  const auto name = parse_model_name("resnet50.a1_in1k@MyBranch");
  REQUIRE(name);
  CHECK(name->name == "resnet50.a1_in1k");
  CHECK(*name->revision == "MyBranch");
  CHECK_FALSE(name->case_folded);
}

TEST_CASE("hub name with prefix and revision") {
  const auto name = parse_model_name("hf-hub:timm/ResNet50.a1_in1k@refs/pr/1");
  REQUIRE(name);
  CHECK(name->kind == NameKind::hub_repository);
  CHECK(name->name == "timm/ResNet50.a1_in1k");
  CHECK(*name->revision == "refs/pr/1");
}

TEST_CASE("hub name prefix variants") {
  for (const auto* text : {"hf-hub:org/repo", "HF-HUB:org/repo", "hf_hub:org/repo", "org/repo"}) {
    INFO(text);
    const auto name = parse_model_name(text);
    REQUIRE(name);
    CHECK(name->kind == NameKind::hub_repository);
    CHECK(name->name == "org/repo");
  }
}

TEST_CASE("model name rejections") {
  for (const auto* text :
       {"", "   ", "resnet 50", "resnet50\t.a1", "res\x01net", "hf-hub:", "hf-hub:noslash", "a/b/c", "org/repo@",
        "resnet50@", "@main", "a@b@c", "local-dir:/tmp/x", "org/-repo", "org/re..po", "org/re--po", "or g/repo"}) {
    INFO("name: '" << text << "'");
    const auto name = parse_model_name(text);
    REQUIRE_FALSE(name);
    CHECK(name.error().code == Errc::invalid_request);
    CHECK_FALSE(name.error().message.empty());
  }
}

TEST_CASE("inner whitespace position is reported") {
  const auto name = parse_model_name("resnet 50");
  REQUIRE_FALSE(name);
  CHECK(name.error().message.find("position 7") != std::string::npos);
}

TEST_CASE("repository id rules") {
  CHECK(check_repo_id("timm/resnet50.a1_in1k").empty());
  CHECK(check_repo_id("jienengchen/ViTamin-L-224px").empty());
  CHECK_FALSE(check_repo_id("timm").empty());
  CHECK_FALSE(check_repo_id("/repo").empty());
  CHECK_FALSE(check_repo_id("org/").empty());
  CHECK_FALSE(check_repo_id("org/repo.").empty());
  CHECK_FALSE(check_repo_id("org/" + std::string(97, 'a')).empty());
}

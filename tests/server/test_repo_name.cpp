#include "daemon/server/repo_name.hpp"

#include "server_test_support.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace timmd::server;
using timmd::proto::Errc;

TEST_CASE("repo_name: org and name") {
  const auto name = parse_repo_name("timm/resnet50.a1_in1k");
  REQUIRE(name.has_value());
  REQUIRE(name->has_value());
  CHECK((*name)->repo == "timm/resnet50.a1_in1k");
  CHECK((*name)->revision.empty());
}

TEST_CASE("repo_name: hf-hub prefix removed") {
  const auto name = parse_repo_name("hf-hub:timm/vit_base_patch16_224.augreg_in21k");
  REQUIRE(name.has_value());
  REQUIRE(name->has_value());
  CHECK((*name)->repo == "timm/vit_base_patch16_224.augreg_in21k");
}

TEST_CASE("repo_name: revision after @") {
  const auto name = parse_repo_name("org/model@v1.0");
  REQUIRE(name.has_value());
  REQUIRE(name->has_value());
  CHECK((*name)->repo == "org/model");
  CHECK((*name)->revision == "v1.0");
}

TEST_CASE("repo_name: pull request revision") {
  const auto name = parse_repo_name("hf-hub:org/model@refs/pr/1");
  REQUIRE(name.has_value());
  REQUIRE(name->has_value());
  CHECK((*name)->repo == "org/model");
  CHECK((*name)->revision == "refs/pr/1");
}

TEST_CASE("repo_name: timm model name not repository") {
  for (const std::string text : {"resnet50", "resnet50.a1_in1k", "vit_base_patch16_224"}) {
    CAPTURE(text);
    const auto name = parse_repo_name(text);
    REQUIRE(name.has_value());
    CHECK_FALSE(name->has_value());
  }
}

TEST_CASE("repo_name: hf-hub without namespace") {
  const auto name = parse_repo_name("hf-hub:gpt2");
  REQUIRE(name.has_value());
  REQUIRE(name->has_value());
  CHECK((*name)->repo == "gpt2");
}

TEST_CASE("repo_name: invalid repository ids") {
  for (const std::string text : {"org/na me", "org/na--me", "org/a..b", "org/model.git", "org/-model", "org/model-",
                                 "org/.model", "org/model.", "/model", "org/", "a/b/c", "org/mod\xc3\xa9l", "hf-hub:",
                                 "hf-hub:org/na*me"}) {
    CAPTURE(text);
    const auto name = parse_repo_name(text);
    REQUIRE_FALSE(name.has_value());
    CHECK(name.error().code == Errc::invalid_request);
  }
}

TEST_CASE("repo_name: error names the id") {
  const auto name = parse_repo_name("org/na me");
  REQUIRE_FALSE(name.has_value());
  CHECK(name.error().message.find("'org/na me'") != std::string::npos);
}

TEST_CASE("repo_name: part length limit") {
  const std::string longest(96, 'a');
  CHECK(parse_repo_name("org/" + longest).has_value());
  CHECK(parse_repo_name(longest + "/model").has_value());
  CHECK_FALSE(parse_repo_name("org/" + longest + "a").has_value());
  CHECK_FALSE(parse_repo_name(longest + "a/model").has_value());
}

TEST_CASE("repo_name: invalid revisions") {
  for (const std::string text : {"org/model@", "org/model@a b", "org/model@tab\there", "org/model@\xc3\xa9"}) {
    CAPTURE(text);
    const auto name = parse_repo_name(text);
    REQUIRE_FALSE(name.has_value());
    CHECK(name.error().code == Errc::invalid_request);
  }
}

TEST_CASE("repo_name: revision length limit") {
  CHECK(parse_repo_name("org/model@" + std::string(256, 'r')).has_value());
  CHECK_FALSE(parse_repo_name("org/model@" + std::string(257, 'r')).has_value());
}

TEST_CASE("is_valid_repo_id: accepted forms") {
  CHECK(is_valid_repo_id("timm/resnet50.a1_in1k"));
  CHECK(is_valid_repo_id("Org_1/Model-2.v3"));
  CHECK(is_valid_repo_id("gpt2"));
}

TEST_CASE("is_valid_repo_id: rejected forms") {
  CHECK_FALSE(is_valid_repo_id(""));
  CHECK_FALSE(is_valid_repo_id("org/model.git"));
  CHECK_FALSE(is_valid_repo_id("org//model"));
  CHECK_FALSE(is_valid_repo_id("../model"));
  CHECK_FALSE(is_valid_repo_id("org/.."));
}

TEST_CASE("is_valid_revision: printable ASCII only") {
  CHECK(is_valid_revision("main"));
  CHECK(is_valid_revision("refs/pr/12"));
  CHECK(is_valid_revision("0123456789abcdef0123456789abcdef01234567"));
  CHECK_FALSE(is_valid_revision(""));
  CHECK_FALSE(is_valid_revision("a b"));
  CHECK_FALSE(is_valid_revision(std::string_view("a\0b", 3)));
  CHECK_FALSE(is_valid_revision("del\x7f"));
}

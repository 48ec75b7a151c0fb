#include "daemon/registry/user_aliases.hpp"

#include <doctest/doctest.h>

using timmd::proto::Errc;
using timmd::registry::UserAliases;

TEST_CASE("aliases from configuration json") {
  const auto aliases = UserAliases::from_json({{"Backbone", "resnet50"}, {"detector", "hf-hub:lab/det@v1"}});
  REQUIRE(aliases.has_value());
  CHECK(aliases->entries().size() == 2);
  REQUIRE(aliases->find("backbone") != nullptr);
  CHECK(*aliases->find("backbone") == "resnet50");
  CHECK(aliases->find("Backbone") == nullptr);
  CHECK(aliases->find("missing") == nullptr);
}

TEST_CASE("aliases json must be an object of strings") {
  const auto not_object = UserAliases::from_json(nlohmann::json::array());
  REQUIRE_FALSE(not_object.has_value());
  CHECK(not_object.error().code == Errc::invalid_request);

  const auto not_string = UserAliases::from_json({{"a", 5}});
  REQUIRE_FALSE(not_string.has_value());
  CHECK(not_string.error().message.find("alias 'a'") != std::string::npos);
}

TEST_CASE("ambiguous alias names are rejected") {
  for (const auto* alias : {"org/model", "hf-hub:x", "name@rev", "two words", "", "a+b"}) {
    INFO("alias: '" << alias << "'");
    UserAliases aliases;
    const auto added = aliases.add(alias, "resnet50");
    REQUIRE_FALSE(added);
    CHECK(added.error().code == Errc::invalid_request);
  }
}

TEST_CASE("alias with a malformed target is rejected") {
  UserAliases aliases;
  const auto added = aliases.add("good", "resnet 50");
  REQUIRE_FALSE(added);
  CHECK(added.error().details["alias"] == "good");
  CHECK(aliases.empty());
}

TEST_CASE("alias added twice keeps the last target") {
  UserAliases aliases;
  REQUIRE(aliases.add("x", "resnet50"));
  REQUIRE(aliases.add(" X ", "resnet18"));
  CHECK(*aliases.find("x") == "resnet18");
}

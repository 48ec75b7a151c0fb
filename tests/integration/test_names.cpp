// timm model names through the daemon: registry resolution, aliases, and the Hub check for tags
// the registry does not list.
#include "tests/integration/daemon_fixture.hpp"

#include <doctest/doctest.h>

using namespace timmd::testing;
using nlohmann::json;

namespace {

struct NamesSetup {
  ScratchDir scratch;
  std::unique_ptr<timmd::testhub::Server> hub;
  std::unique_ptr<DaemonProcess> daemon;

  NamesSetup() {
    hub = start_hub(data_dir() / "timm" / "demo-repo");
    daemon = std::make_unique<DaemonProcess>(scratch.path() / "daemon",
                                             DaemonOptions{hub->endpoint(), {{"aliases", {{"demo", "test_vit"}}}}});
    daemon->start();
  }
};

} // namespace

TEST_CASE("bare architecture pulls its default tag") {
  NamesSetup setup;
  auto connection = setup.daemon->connect();
  auto result = connection.request("pull", {{"name", "test_vit"}});
  REQUIRE_MESSAGE(result, (result ? "" : result.error().message));
  CHECK((*result)["name"] == "test_vit.r160_in1k");
  CHECK((*result)["repo"] == "timm/test_vit.r160_in1k");
  CHECK((*result)["resolved_by"] == "default_tag");
  CHECK((*result)["files"].size() == 2);
}

TEST_CASE("user alias from the configuration pulls its target") {
  NamesSetup setup;
  auto connection = setup.daemon->connect();
  auto result = connection.request("pull", {{"name", "demo"}});
  REQUIRE_MESSAGE(result, (result ? "" : result.error().message));
  CHECK((*result)["repo"] == "timm/test_vit.r160_in1k");
  CHECK((*result)["resolved_by"] == "user_alias");
}

TEST_CASE("unknown tag missing on the Hub is not_found with suggestions") {
  NamesSetup setup;
  auto connection = setup.daemon->connect();
  auto result = connection.request("pull", {{"name", "test_vit.no_such_tag"}});
  REQUIRE_FALSE(result);
  CHECK(result.error().code == timmd::proto::Errc::not_found);
  CHECK(result.error().message.find("test_vit.r160_in1k") != std::string::npos);
  CHECK(result.error().details["suggestions"].size() > 0);
}

TEST_CASE("resolve answers from the registry and the index") {
  NamesSetup setup;
  auto connection = setup.daemon->connect();

  auto deprecated = connection.request("resolve", {{"name", "vit_base_patch16_224_in21k"}});
  REQUIRE_MESSAGE(deprecated, (deprecated ? "" : deprecated.error().message));
  CHECK((*deprecated)["name"] == "vit_base_patch16_224.augreg_in21k");
  CHECK((*deprecated)["resolved_by"] == "deprecated_alias");
  CHECK((*deprecated)["notice"].get<std::string>().find("vit_base_patch16_224.augreg_in21k") != std::string::npos);
  CHECK((*deprecated)["commit"].is_null());
  CHECK(setup.hub->requests().empty());

  auto pulled = connection.request("pull", {{"name", "test_vit"}});
  REQUIRE(pulled.has_value());
  setup.hub->clear_requests();
  auto known = connection.request("resolve", {{"name", "test_vit"}});
  REQUIRE(known.has_value());
  CHECK((*known)["commit"] == (*pulled)["commit"]);
  CHECK((*known)["pretrained_cfg"]["input_size"] == json::array({3, 160, 160}));
  CHECK(setup.hub->requests().empty());

  auto typo = connection.request("resolve", {{"name", "resnet5o"}});
  REQUIRE_FALSE(typo);
  CHECK(typo.error().code == timmd::proto::Errc::not_found);
  CHECK(typo.error().message.find("resnet50") != std::string::npos);
}

TEST_CASE("timmctl pull prints the deprecation notice as a warning") {
  NamesSetup setup;
  auto result = run_timmctl({"--socket", setup.daemon->socket().string(), "resolve", "vit_base_patch16_224_in21k"});
  CHECK(result.status == 0);
  CHECK(result.err.find("warning") != std::string::npos);
  CHECK(result.out.find("timm/vit_base_patch16_224.augreg_in21k") != std::string::npos);
}

#include "daemon/registry/reloadable_registry.hpp"

#include "registry_test_support.hpp"

#include <doctest/doctest.h>

using timmd::registry::Registry;
using timmd::registry::ReloadableRegistry;
using namespace timmd::registry::test;

namespace {

constexpr std::string_view k_small =
    R"({"architectures": {"tinynet": {"tags": [{"tag": "in1k", "hf_hub_id": "timm/tinynet.in1k"}]}}})";

} // namespace

TEST_CASE("reload with a broken file keeps the previous registry") {
  TempDir dir;
  const auto good = dir.write("good.json", k_small);
  auto initial = Registry::load({good});
  REQUIRE(initial);
  ReloadableRegistry holder(*initial);

  const auto broken = dir.write("broken.json", "{\"architectures\": {\"tinynet\": {\"tags\": [{\"tag\": 5}]}}}");
  const auto reloaded = holder.reload({good, broken});
  REQUIRE_FALSE(reloaded);
  CHECK(reloaded.error().details["field"] == "architectures.tinynet.tags[0].tag");
  CHECK(holder.current() == *initial);
}

TEST_CASE("reload with valid files swaps the registry") {
  TempDir dir;
  const auto good = dir.write("good.json", k_small);
  auto initial = Registry::load({good});
  REQUIRE(initial);
  ReloadableRegistry holder(*initial);
  const auto snapshot = holder.current();

  const auto extra = dir.write(
      "extra.json", R"({"architectures": {"bignet": {"tags": [{"tag": "x", "hf_hub_id": "timm/bignet.x"}]}}})");
  REQUIRE(holder.reload({good, extra}));
  CHECK(holder.current() != snapshot);
  CHECK(holder.current()->find_architecture("bignet") != nullptr);
  CHECK(snapshot->find_architecture("bignet") == nullptr);
}

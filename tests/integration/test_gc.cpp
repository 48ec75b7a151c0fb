// Garbage collection through the daemon: leases and pins keep blobs, derived blobs go first,
// and what was evicted is fetched or made again on the next request.
#include "client/timmd_client.hpp"
#include "tests/integration/daemon_fixture.hpp"

#include <doctest/doctest.h>

using namespace timmd::testing;
using nlohmann::json;

namespace {

constexpr const char* k_demo = "timm/test_vit.r160_in1k";

json call(timmd::client::Connection& connection, const std::string& op, json params = json::object()) {
  auto result = connection.request(op, std::move(params));
  REQUIRE_MESSAGE(result.has_value(), (result ? std::string() : result.error().message));
  return *result;
}

} // namespace

TEST_CASE("gc keeps leased and pinned blobs, evicts derived blobs first, and the cache refills") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  auto hub = start_hub(data_dir() / "timm" / "demo-repo");
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  auto admin = daemon.connect();

  auto client = timmd::client::Client::connect(daemon.socket());
  REQUIRE(client.has_value());
  std::string derived;
  {
    auto opened = client->open(k_demo, {{"img_size", 224}});
    REQUIRE(opened.has_value());
    derived = opened->info()["served"]["sha256"].get<std::string>();
    CHECK(cached_blobs(daemon.cache_dir()).size() == 3); // weights, config.json, derived

    // Nothing is unreferenced yet, so a plain gc removes nothing.
    CHECK(call(admin, "gc")["evicted"].empty());

    auto dry = call(admin, "gc", {{"max_bytes", 0}, {"dry_run", true}});
    CHECK(dry["kept_leased"] == 1);
    CHECK(dry["evicted"].size() == 2);
    CHECK(cached_blobs(daemon.cache_dir()).size() == 3);

    auto held = call(admin, "gc", {{"max_bytes", 0}});
    CHECK(held["kept_leased"] == 1);
    CHECK(held["max_bytes"] == 0);
    CHECK(held["target_met"] == false);
    const auto blobs = cached_blobs(daemon.cache_dir());
    REQUIRE(blobs.size() == 1);
    CHECK(blobs.begin()->first == derived);
    // The mapping stays readable while the lease is held.
    CHECK(opened->find("cls_token")->data.size() == 64 * 4);
  }
  client = timmd::client::Client::connect(daemon.socket()); // the old connection and its lease end
  REQUIRE(client.has_value());

  auto evicted = call(admin, "gc", {{"max_bytes", 0}});
  REQUIRE(evicted["evicted"].size() == 1);
  CHECK(evicted["target_met"] == true);
  CHECK(evicted["evicted"][0]["sha256"] == derived);
  CHECK(evicted["evicted"][0]["derived"] == true);
  CHECK(cached_blobs(daemon.cache_dir()).empty());

  // Everything comes back on demand: downloaded again, materialised again to the same bytes.
  {
    auto again = client->open(k_demo, {{"img_size", 224}});
    REQUIRE_MESSAGE(again.has_value(), (again ? std::string() : again.error().message));
    CHECK(again->info()["served"]["sha256"] == derived);
    CHECK(again->info()["served"]["prepared"] == "now");
  }

  auto pinned = call(admin, "pin", {{"name", k_demo}});
  CHECK(pinned["blobs"].size() == 2);
  client = timmd::client::Client::connect(daemon.socket());
  REQUIRE(client.has_value());
  auto kept = call(admin, "gc", {{"max_bytes", 0}});
  CHECK(kept["kept_pinned"] == 2);
  CHECK(kept["target_met"] == false);
  CHECK(daemon.log().find("above the target of 0: 2 pinned and 0 in-use blobs were kept") != std::string::npos);
  CHECK(kept["evicted"].size() == 1); // the derived blob, not pinned and no longer leased
  CHECK(cached_blobs(daemon.cache_dir()).size() == 2);

  call(admin, "unpin", {{"name", k_demo}});
  CHECK(call(admin, "gc", {{"max_bytes", 0}})["evicted"].size() == 2);
  CHECK(cached_blobs(daemon.cache_dir()).empty());

  auto unknown = admin.request("pin", {{"name", "org/never-pulled"}});
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().code == timmd::proto::Errc::not_found);
  CHECK(daemon.log().find("gc: evicted derived blob " + derived) != std::string::npos);
}

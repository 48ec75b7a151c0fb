// `verify` through the daemon: a clean cache, each kind of damage found and quarantined,
// --repair fetching the blobs again, a repair that cannot reach the Hub, leased blobs, and a
// check limited to one repository.
#include "tests/integration/verify_support.hpp"

#include "client/timmd_client.hpp"
#include "daemon/store/index.hpp"

#include <doctest/doctest.h>

#include <fstream>

using namespace timmd::testing;
using nlohmann::json;

namespace {

// The one problem of a verify result; fails the test when there is not exactly one.
json only_problem(const json& verified) {
  INFO(verified.dump(2));
  REQUIRE(verified["problems"].size() == 1);
  return verified["problems"][0];
}

void check_clean(const CacheSetup& setup, const json& params = json::object()) {
  const auto verified = setup.call("verify", params);
  INFO(verified.dump(2));
  CHECK(verified["problems"].empty());
  CHECK(verified["unrepaired"] == 0);
}

} // namespace

TEST_CASE("verify of a clean cache finds nothing") {
  CacheSetup setup;
  INFO("scratch directory: " << setup.scratch.path());
  setup.call("pull", {{"name", "org/alpha"}});

  const auto verified = setup.call("verify");
  CHECK(verified["problems"].empty());
  CHECK(verified["blobs_checked"] == 2);
  CHECK(verified["file_rows_checked"] == 2);
  CHECK(verified["repo"].is_null());
  CHECK(verified["bytes_hashed"].get<std::uint64_t>() > 1000000);

  const auto printed = run_timmctl({"--socket", setup.daemon->socket().string(), "verify"});
  INFO(printed.err);
  CHECK(printed.status == 0);
  CHECK(printed.out.find("0 problems, 0 not repaired") != std::string::npos);
  CHECK(setup.quarantined().empty());
}

TEST_CASE("verify quarantines damaged blobs and repair fetches them") {
  CacheSetup setup;
  INFO("scratch directory: " << setup.scratch.path());
  const auto pulled = setup.call("pull", {{"name", "org/alpha"}});
  const auto weights = CacheSetup::blob_of(pulled, "model.safetensors");
  const auto config = CacheSetup::blob_of(pulled, "config.json");

  struct Damage {
    const char* name;
    std::string blob;
    std::function<void()> apply;
    const char* kind;
    const char* action;
  };
  const std::vector<Damage> damages = {
      {"flipped byte", weights, [&] { flip_byte(setup.blob_path(weights), 5000); }, "hash_mismatch", "quarantined"},
      {"truncated", config, [&] { truncate_file(setup.blob_path(config), 10); }, "size_mismatch", "quarantined"},
      {"deleted file", weights, [&] { std::filesystem::remove(setup.blob_path(weights)); }, "missing_file",
       "row_removed"},
  };
  for (const auto& damage : damages) {
    CAPTURE(damage.name);
    const auto quarantined_before = setup.quarantined().size();
    damage.apply();

    const auto report = setup.call("verify");
    const auto found = only_problem(report);
    CHECK(found["kind"] == damage.kind);
    if (std::string(damage.kind) == "hash_mismatch") {
      CHECK(report["bytes_hashed"].get<std::uint64_t>() > 0); // the damaged file was read in full
    }
    CHECK(found["sha256"] == damage.blob);
    CHECK(found["action"] == damage.action);
    CHECK(found["repaired"] == false);
    CHECK(found["repos"] == json::array({"org/alpha"}));
    REQUIRE(found["files"].size() == 1);
    CHECK(found["files"][0]["repo"] == "org/alpha");
    CHECK_FALSE(std::filesystem::exists(setup.blob_path(damage.blob)));
    if (std::string(damage.action) == "quarantined") {
      const auto names = setup.quarantined();
      REQUIRE(names.size() == quarantined_before + 1);
      const auto path = std::filesystem::path(found["quarantine_path"].get<std::string>());
      CHECK(path.filename().string().starts_with(damage.blob + "."));
      CHECK(path.filename().string().ends_with("Z"));
      CHECK(std::filesystem::exists(path));
    }
    CHECK(setup.daemon->log().find("verify: ") != std::string::npos);

    // The next run remembers what the first one removed, and the repair fetches it.
    const auto repaired = only_problem(setup.call("verify", {{"repair", true}}));
    CHECK(repaired["kind"] == "lost_blob");
    CHECK(repaired["sha256"] == damage.blob);
    CHECK(repaired["repaired"] == true);
    CHECK(sha256_of(setup.blob_path(damage.blob)) == damage.blob);
    check_clean(setup);
  }
}

TEST_CASE("verify repair fetches quarantined blobs again") {
  CacheSetup setup;
  INFO("scratch directory: " << setup.scratch.path());
  const auto pulled = setup.call("pull", {{"name", "org/alpha"}});
  const auto weights = CacheSetup::blob_of(pulled, "model.safetensors");
  flip_byte(setup.blob_path(weights), 100);

  const auto repaired = only_problem(setup.call("verify", {{"repair", true}}));
  CHECK(repaired["kind"] == "hash_mismatch");
  CHECK(repaired["action"] == "quarantined");
  CHECK(repaired["repaired"] == true);
  CHECK(repaired["repair"].get<std::string>().find("fetched model.safetensors of org/alpha@") != std::string::npos);
  CHECK(sha256_of(setup.blob_path(weights)) == weights);
  CHECK(setup.quarantined().size() == 1);
  check_clean(setup);

  // The list shows both files cached again.
  const auto listed = setup.call("list");
  REQUIRE(listed["snapshots"].size() == 1);
  CHECK(listed["snapshots"][0]["cached_files"] == 2);
}

TEST_CASE("verify adopts a blob whose row was deleted") {
  CacheSetup setup;
  INFO("scratch directory: " << setup.scratch.path());
  const auto pulled = setup.call("pull", {{"name", "org/alpha"}});
  const auto config = CacheSetup::blob_of(pulled, "config.json");
  {
    auto index = timmd::store::Index::open(setup.daemon->cache_dir() / "index.sqlite3");
    REQUIRE(index.has_value());
    REQUIRE((*index)->delete_blob(config).has_value());
  }

  const auto found = only_problem(setup.call("verify"));
  CHECK(found["kind"] == "unrecorded_file");
  CHECK(found["action"] == "adopted");
  CHECK(found["repaired"] == true);
  CHECK(std::filesystem::exists(setup.blob_path(config)));
  CHECK(setup.call("list")["snapshots"][0]["cached_files"] == 2); // the file row is linked again
  check_clean(setup);
}

TEST_CASE("verify quarantines stray files in the blob tree") {
  CacheSetup setup;
  INFO("scratch directory: " << setup.scratch.path());
  setup.call("pull", {{"name", "org/alpha"}});
  const auto blobs = setup.daemon->cache_dir() / "blobs" / "sha256";
  std::filesystem::create_directories(blobs / "ab");
  std::ofstream(blobs / "ab" / "notes.txt") << "not a blob";
  const std::string fake = "ab" + std::string(62, '0');
  std::ofstream(blobs / "ab" / fake) << "content that does not hash to its name";

  const auto verified = setup.call("verify");
  INFO(verified.dump(2));
  REQUIRE(verified["problems"].size() == 2);
  for (const auto& problem : verified["problems"]) {
    CHECK(problem["action"] == "quarantined");
    CHECK(problem["repaired"] == true);
  }
  CHECK(verified["unrepaired"] == 0);
  // The blob tree is checked in path order.
  CHECK(verified["problems"][0]["kind"] == "unrecorded_file");
  CHECK(verified["problems"][0]["sha256"] == fake);
  CHECK(verified["problems"][1]["kind"] == "stray_file");
  const auto names = setup.quarantined();
  REQUIRE(names.size() == 2);
  CHECK(names[0].starts_with(fake + "."));
  CHECK(names[1].starts_with("stray-notes.txt."));
  check_clean(setup);
}

TEST_CASE("verify repair reports a Hub it cannot reach") {
  CacheSetup setup;
  INFO("scratch directory: " << setup.scratch.path());
  const auto pulled = setup.call("pull", {{"name", "org/alpha"}});
  const auto weights = CacheSetup::blob_of(pulled, "model.safetensors");
  flip_byte(setup.blob_path(weights), 100);
  setup.hub.reset();

  const auto printed =
      run_timmctl({"--socket", setup.daemon->socket().string(), "--json", "verify", "org/alpha", "--repair"});
  INFO(printed.out << printed.err);
  CHECK(printed.status == 1);
  const auto verified = json::parse(printed.out);
  CHECK(verified["unrepaired"] == 1);
  const auto problem = only_problem(verified);
  CHECK(problem["repaired"] == false);
  CHECK(problem["repair"].get<std::string>().find("could not fetch 1 of 1 files") != std::string::npos);
  CHECK(setup.quarantined().size() == 1);

  const auto text = run_timmctl({"--socket", setup.daemon->socket().string(), "verify"});
  CHECK(text.status == 1);
  CHECK(text.out.find("NOT REPAIRED") != std::string::npos);
}

TEST_CASE("verify quarantines a leased blob") {
  CacheSetup setup;
  INFO("scratch directory: " << setup.scratch.path());
  auto client = timmd::client::Client::connect(setup.daemon->socket());
  REQUIRE(client.has_value());
  auto opened = client->open("org/alpha");
  REQUIRE_MESSAGE(opened.has_value(), (opened ? std::string() : opened.error().message));
  const auto served = opened->info()["served"]["sha256"].get<std::string>();
  flip_byte(setup.blob_path(served), 100);

  const auto found = only_problem(setup.call("verify"));
  CHECK(found["sha256"] == served);
  CHECK(found["leased"] == true);
  CHECK(found["action"] == "quarantined");
  CHECK(setup.daemon->log().find("a client holds it open") != std::string::npos);
  // The client's mapping still reads.
  CHECK_FALSE(opened->tensors().empty());
  CHECK(opened->tensors().front().data.size() > 0);
}

TEST_CASE("verify NAME checks only that repository") {
  CacheSetup setup;
  INFO("scratch directory: " << setup.scratch.path());
  setup.call("pull", {{"name", "org/alpha"}});
  const auto beta = setup.call("pull", {{"name", "org/beta"}});
  const auto beta_config = CacheSetup::blob_of(beta, "config.json");
  flip_byte(setup.blob_path(beta_config), 10);

  const auto alpha = setup.call("verify", {{"name", "org/alpha"}});
  INFO(alpha.dump(2));
  CHECK(alpha["problems"].empty());
  CHECK(alpha["blobs_checked"] == 2);
  CHECK(alpha["repo"] == "org/alpha");
  CHECK(std::filesystem::exists(setup.blob_path(beta_config)));

  const auto found = only_problem(setup.call("verify", {{"name", "org/beta"}, {"repair", true}}));
  CHECK(found["kind"] == "hash_mismatch");
  CHECK(found["repaired"] == true);
  check_clean(setup);

  auto unknown = setup.daemon->connect().request("verify", {{"name", "org/never-pulled"}});
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().code == timmd::proto::Errc::not_found);
}

// `remove` through the daemon: shared blobs stay, other revisions stay, leased blobs stay until
// released, derived blobs go with their source, --dry-run changes nothing, pinned blobs are not
// stranded, and a running pull holds its blobs and its repository.
#include "tests/integration/verify_support.hpp"

#include "client/timmd_client.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <optional>
#include <thread>

#include <unistd.h>

using namespace timmd::testing;
using nlohmann::json;

namespace {

std::vector<std::string> sha256s(const json& blobs) {
  std::vector<std::string> list;
  for (const auto& blob : blobs) {
    list.push_back(blob["sha256"].get<std::string>());
  }
  return list;
}

} // namespace

TEST_CASE("remove keeps a blob another repository shares") {
  CacheSetup setup;
  INFO("scratch directory: " << setup.scratch.path());
  const auto alpha = setup.call("pull", {{"name", "org/alpha"}});
  const auto beta = setup.call("pull", {{"name", "org/beta"}});
  const auto weights = CacheSetup::blob_of(alpha, "model.safetensors");
  const auto alpha_config = CacheSetup::blob_of(alpha, "config.json");
  REQUIRE(cached_blobs(setup.daemon->cache_dir()).size() == 3);

  const auto dry = setup.call("remove", {{"name", "org/alpha"}, {"dry_run", true}});
  INFO(dry.dump(2));
  CHECK(dry["dry_run"] == true);
  CHECK(sha256s(dry["removed"]) == std::vector{alpha_config});
  CHECK(dry["kept_shared"] == 1);
  CHECK(cached_blobs(setup.daemon->cache_dir()).size() == 3);
  CHECK(setup.call("list")["snapshots"].size() == 2);

  const auto printed = run_timmctl({"--socket", setup.daemon->socket().string(), "remove", "org/alpha"});
  INFO(printed.out << printed.err);
  CHECK(printed.status == 0);
  CHECK(printed.out.find("deleted " + alpha_config) != std::string::npos);
  const auto blobs = cached_blobs(setup.daemon->cache_dir());
  CHECK(blobs.size() == 2);
  CHECK(blobs.contains(weights));
  CHECK_FALSE(blobs.contains(alpha_config));
  const auto listed = setup.call("list")["snapshots"];
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["repo"] == "org/beta");
  CHECK(setup.daemon->log().find("remove: deleted downloaded blob " + alpha_config) != std::string::npos);
  CHECK(setup.call("verify")["problems"].empty());

  auto again = setup.daemon->connect().request("remove", {{"name", "org/alpha"}});
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code == timmd::proto::Errc::not_found);
}

TEST_CASE("remove of one revision keeps the others") {
  CacheSetup setup;
  INFO("scratch directory: " << setup.scratch.path());
  const auto main = setup.call("pull", {{"name", "org/gamma"}});
  const auto tagged = setup.call("pull", {{"name", "org/gamma@v1.0"}});
  REQUIRE(main["commit"] != tagged["commit"]);
  const auto tagged_config = CacheSetup::blob_of(tagged, "config.json");

  const auto removed = setup.call("remove", {{"name", "org/gamma"}, {"revision", "v1.0"}});
  INFO(removed.dump(2));
  CHECK(removed["refs"] == json::array({"v1.0"}));
  CHECK(removed["commits"] == json::array({tagged["commit"]}));
  CHECK(sha256s(removed["removed"]) == std::vector{tagged_config});
  CHECK(removed["kept_shared"] == 1); // the weights, which main uses too

  const auto listed = setup.call("list")["snapshots"];
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["commit"] == main["commit"]);
  CHECK(listed[0]["cached_files"] == 2);
  CHECK(cached_blobs(setup.daemon->cache_dir()).size() == 2);

  auto unknown = setup.daemon->connect().request("remove", {{"name", "org/gamma"}, {"revision", "v9"}});
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().code == timmd::proto::Errc::not_found);
  CHECK(unknown.error().message.find("'v9'") != std::string::npos);
}

TEST_CASE("remove keeps a leased blob and takes derived blobs") {
  CacheSetup setup;
  INFO("scratch directory: " << setup.scratch.path());
  std::string derived;
  std::string weights;
  {
    auto client = timmd::client::Client::connect(setup.daemon->socket());
    REQUIRE(client.has_value());
    auto remapped = client->open("org/alpha", {{"img_size", 224}});
    REQUIRE_MESSAGE(remapped.has_value(), (remapped ? std::string() : remapped.error().message));
    derived = remapped->info()["served"]["sha256"].get<std::string>();
    REQUIRE(remapped->info()["served"]["derived"] == true);
  }
  {
    auto client = timmd::client::Client::connect(setup.daemon->socket());
    REQUIRE(client.has_value());
    auto opened = client->open("org/alpha");
    REQUIRE(opened.has_value());
    weights = opened->info()["served"]["sha256"].get<std::string>();
    REQUIRE(opened->info()["served"]["derived"] == false); // the stored weights themselves

    const auto removed = setup.call("remove", {{"name", "org/alpha"}});
    INFO(removed.dump(2));
    CHECK(sha256s(removed["kept_leased"]) == std::vector{weights});
    const auto gone = sha256s(removed["removed"]);
    CHECK(gone.size() == 2); // config.json and the derived blob
    CHECK(std::ranges::find(gone, derived) != gone.end());
    CHECK(std::filesystem::exists(setup.blob_path(weights)));
    CHECK_FALSE(std::filesystem::exists(setup.blob_path(derived)));
    CHECK_FALSE(opened->tensors().empty());
  }

  // Once the client is gone, nothing names the weights and gc takes them.
  const auto collected = setup.call("gc");
  CHECK(sha256s(collected["evicted"]) == std::vector{weights});
  CHECK(cached_blobs(setup.daemon->cache_dir()).empty());
}

TEST_CASE("remove rejects stranding pinned blobs") {
  CacheSetup setup;
  INFO("scratch directory: " << setup.scratch.path());
  const auto alpha = setup.call("pull", {{"name", "org/alpha"}});
  const auto commit = alpha["commit"].get<std::string>();
  setup.call("pin", {{"name", "org/alpha"}});
  setup.call("pin", {{"name", "org/alpha"}});

  // `unpin` finds blobs through file lists, so a removal that kept the pinned blobs would leave
  // them with no name to unpin them by. The dry run returns the same error.
  for (const bool dry_run : {true, false}) {
    CAPTURE(dry_run);
    auto refused = setup.daemon->connect().request("remove", {{"name", "org/alpha"}, {"dry_run", dry_run}});
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == timmd::proto::Errc::invalid_request);
    CHECK(refused.error().message.find("has 2 pinned blobs") != std::string::npos);
    CHECK(refused.error().message.find("2 pins)") != std::string::npos);
    CHECK(refused.error().message.find("`timmctl unpin org/alpha@" + commit + "`") != std::string::npos);
  }
  CHECK(setup.call("list")["snapshots"].size() == 1);
  CHECK(cached_blobs(setup.daemon->cache_dir()).size() == 2);

  const auto socket = setup.daemon->socket().string();
  for (int pin = 0; pin < 2; ++pin) {
    REQUIRE(run_timmctl({"--socket", socket, "unpin", "org/alpha@" + commit}).status == 0);
  }
  const auto removed = setup.call("remove", {{"name", "org/alpha"}});
  CHECK(removed["removed"].size() == 2);
  CHECK(cached_blobs(setup.daemon->cache_dir()).empty());
}

TEST_CASE("running pull blocks gc and remove") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  // org/small and org/slow share config.json; org/slow's weights come slowly, so its pull is
  // still running, holding the shared blob, while gc and remove run.
  const auto root = scratch.path() / "hub";
  const auto config = scratch.path() / "config.json";
  const auto weights = scratch.path() / "pytorch_model.bin";
  {
    std::ofstream(config) << R"({"architecture": "resnet18"})";
  }
  write_random_file(weights, 8 * 1024 * 1024, 71);
  make_repo(root, "org/small", {{"config.json", config}});
  make_repo(root, "org/slow", {{"config.json", config}, {"pytorch_model.bin", weights}});
  auto hub = start_hub(root, "", 1024 * 1024);
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  auto admin = daemon.connect();

  auto small = admin.request("pull", {{"name", "org/small"}, {"all", true}});
  REQUIRE_MESSAGE(small.has_value(), (small ? std::string() : small.error().message));
  const auto shared = CacheSetup::blob_of(*small, "config.json");

  std::optional<timmd::proto::Result<json>> slow;
  std::thread puller([&] {
    auto connection = daemon.connect();
    slow = connection.request("pull", {{"name", "org/slow"}});
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (daemon.log().find("downloading org/slow/pytorch_model.bin") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(daemon.log().find("downloading org/slow/pytorch_model.bin") != std::string::npos);

  for (const bool dry_run : {true, false}) {
    CAPTURE(dry_run);
    auto refused = admin.request("remove", {{"name", "org/slow"}, {"dry_run", dry_run}});
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == timmd::proto::Errc::busy);
    CHECK(refused.error().message.find("'org/slow' is being pulled") != std::string::npos);
    CHECK(refused.error().message.find(std::to_string(::getpid())) != std::string::npos);
  }

  // A gc down to nothing evicts every blob without a lease, and the running pull leases the
  // shared config.json.
  const auto collected = admin.request("gc", {{"max_bytes", 0}});
  REQUIRE(collected.has_value());
  INFO("gc: " << collected->dump());
  CHECK((*collected)["evicted"].empty());
  CHECK((*collected)["kept_leased"] == 1);
  const auto removed = admin.request("remove", {{"name", "org/small"}});
  REQUIRE_MESSAGE(removed.has_value(), (removed ? std::string() : removed.error().message));
  CHECK((*removed)["kept_shared"] == 1); // org/slow's file list names it already
  CHECK(std::filesystem::exists(daemon.cache_dir() / "blobs" / "sha256" / shared.substr(0, 2) / shared));

  puller.join();
  REQUIRE(slow.has_value());
  REQUIRE_MESSAGE(slow->has_value(), (*slow ? std::string() : slow->error().message));
  for (const auto& file : (**slow)["files"]) {
    CHECK(std::filesystem::exists(file["blob_path"].get<std::string>()));
  }
  CHECK(admin.request("remove", {{"name", "org/slow"}}).has_value());
  CHECK(cached_blobs(daemon.cache_dir()).empty());
}

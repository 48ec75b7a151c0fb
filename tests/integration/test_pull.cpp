// Pulls through the real daemon, socket and test Hub.
#include "tests/integration/daemon_fixture.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <future>
#include <set>

using namespace timmd::testing;
using nlohmann::json;

namespace {

const auto k_real = data_dir() / "real";

// Repositories built from the real weight files, each with a config.json.
std::map<std::string, std::map<std::string, std::filesystem::path>> fixture_repos() {
  const auto weights = k_real / "weights";
  const auto edge = k_real / "format-edge";
  const auto demo = data_dir() / "timm" / "demo-repo" / "timm" / "test_vit.r160_in1k";
  const auto config = demo / "config.json";
  return {
      {"real/burn-mnist-safetensors",
       {{"model.safetensors", weights / "burn_mnist.safetensors"}, {"config.json", config}}},
      {"real/burn-mnist-pt", {{"pytorch_model.bin", weights / "burn_mnist.pt"}, {"config.json", config}}},
      {"real/resnet20-cifar10",
       {{"pytorch_model.bin", weights / "akamaster_resnet20-12fca82f.th"}, {"config.json", config}}},
      {"real/resnet56-cifar10", {{"pytorch_model.bin", weights / "akamaster_resnet56-4bfd9763.th"}}},
      {"real/mtcnn-onet", {{"pytorch_model.bin", weights / "facenet-pytorch_mtcnn_onet.pt"}}},
      {"real/candle-npz", {{"weights.npz", edge / "candle" / "test.npz"}}},
      {"timm/test_vit.r160_in1k",
       {{"model.safetensors", demo / "model.safetensors"}, {"config.json", config}, {"README.md", demo / "README.md"}}},
  };
}

json pull(timmd::client::Connection& connection, const std::string& name, json extra = json::object()) {
  extra["name"] = name;
  auto result = connection.request("pull", extra);
  REQUIRE_MESSAGE(result, (result ? "" : result.error().message));
  return *result;
}

std::size_t count_requests(const timmd::testhub::Server& hub, const std::string& listener, const std::string& method,
                           const std::string& path_suffix) {
  const auto records = hub.requests();
  return static_cast<std::size_t>(std::ranges::count_if(records, [&](const auto& r) {
    return r.listener == listener && r.method == method && r.path.ends_with(path_suffix);
  }));
}

} // namespace

TEST_CASE("pull of every fixture repository stores verified blobs") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto repos = fixture_repos();
  for (const auto& [repo, files] : repos) {
    make_repo(scratch.path() / "hub", repo, files);
  }
  auto hub = start_hub(scratch.path() / "hub");
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  auto connection = daemon.connect();

  for (const auto& [repo, files] : repos) {
    CAPTURE(repo);
    const auto result = pull(connection, repo);
    CHECK(result["repo"] == repo);
    CHECK(result["commit"].get<std::string>().size() == 40);

    const auto blobs = cached_blobs(daemon.cache_dir());
    for (const auto& file : result["files"]) {
      const auto path = file["path"].get<std::string>();
      CAPTURE(path);
      REQUIRE(files.contains(path));
      const auto expected = sha256_of(files.at(path));
      CHECK(file["sha256"] == expected);
      REQUIRE(blobs.contains(expected));
      CHECK(sha256_of(blobs.at(expected)) == expected);
      CHECK(std::filesystem::file_size(blobs.at(expected)) == std::filesystem::file_size(files.at(path)));
    }
  }
  // The weights of every repository came along, README.md of the demo did not.
  CHECK(count_requests(*hub, "api", "HEAD", "/README.md") == 0);
}

TEST_CASE("second pull sends no GET for file contents") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto repos = fixture_repos();
  make_repo(scratch.path() / "hub", "timm/test_vit.r160_in1k", repos.at("timm/test_vit.r160_in1k"));
  auto hub = start_hub(scratch.path() / "hub");
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  auto connection = daemon.connect();

  const auto first = pull(connection, "timm/test_vit.r160_in1k");
  for (const auto& file : first["files"]) {
    CHECK(file["cached"] == false);
  }
  hub->clear_requests();

  const auto second = pull(connection, "timm/test_vit.r160_in1k");
  CHECK(second["commit"] == first["commit"]);
  for (std::size_t i = 0; i < first["files"].size(); ++i) {
    CHECK(second["files"][i]["sha256"] == first["files"][i]["sha256"]);
    CHECK(second["files"][i]["cached"] == true);
  }
  for (const auto& record : hub->requests()) {
    CAPTURE(record.target);
    CHECK(record.path.find("/resolve/") == std::string::npos);
    CHECK(record.listener == "api");
  }

  // A pull by commit needs no request at all.
  hub->clear_requests();
  const auto by_commit = pull(connection, "timm/test_vit.r160_in1k@" + first["commit"].get<std::string>());
  CHECK(by_commit["commit"] == first["commit"]);
  CHECK(hub->requests().empty());
}

TEST_CASE("pull survives a body cut after N bytes, repeatedly") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto big = scratch.path() / "src" / "big.bin";
  write_random_file(big, 5 * 1024 * 1024 + 123, 7);
  make_repo(scratch.path() / "hub", "org/cut", {{"pytorch_model.bin", big}});
  auto hub = start_hub(scratch.path() / "hub");

  timmd::testhub::Fault cut;
  cut.match = {"cdn", "GET", "*"};
  cut.kind = timmd::testhub::FaultKind::close_after;
  cut.bytes = 300'000; // above the 256 KiB that counts as progress, so every cut is survivable
  cut.count = 12;
  hub->add_fault(cut);

  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  auto connection = daemon.connect();
  const auto result = pull(connection, "org/cut");
  const auto expected = sha256_of(big);
  CHECK(result["files"][0]["sha256"] == expected);
  CHECK(sha256_of(cached_blobs(daemon.cache_dir()).at(expected)) == expected);
  CHECK(count_requests(*hub, "cdn", "GET", "") > 12);
  CHECK(daemon.log().find("retrying chunk") != std::string::npos);
}

TEST_CASE("wrong bytes with the right length give integrity_error and publish nothing") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto big = scratch.path() / "src" / "big.bin";
  write_random_file(big, 3 * 1024 * 1024, 9);
  make_repo(scratch.path() / "hub", "org/corrupt", {{"pytorch_model.bin", big}});
  auto hub = start_hub(scratch.path() / "hub");

  timmd::testhub::Fault corrupt;
  corrupt.match = {"cdn", "GET", "*"};
  corrupt.kind = timmd::testhub::FaultKind::wrong_bytes;
  corrupt.count = 1;
  hub->add_fault(corrupt);

  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  auto connection = daemon.connect();
  auto result = connection.request("pull", {{"name", "org/corrupt"}});
  REQUIRE_FALSE(result);
  CHECK(result.error().code == timmd::proto::Errc::integrity_error);
  CHECK(result.error().message.find(sha256_of(big)) != std::string::npos);
  CHECK(cached_blobs(daemon.cache_dir()).empty());
  CHECK(std::filesystem::is_empty(daemon.cache_dir() / "tmp"));

  // The fault is used up: the next pull fetches the file again from scratch and succeeds.
  const auto retried = pull(connection, "org/corrupt");
  CHECK(retried["files"][0]["sha256"] == sha256_of(big));
}

TEST_CASE("eight clients pulling at once share one transfer per blob") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto big = scratch.path() / "src" / "big.bin";
  write_random_file(big, 8 * 1024 * 1024, 11);
  const auto config = data_dir() / "timm" / "demo-repo" / "timm" / "test_vit.r160_in1k" / "config.json";
  make_repo(scratch.path() / "hub", "org/shared", {{"model.safetensors", big}, {"config.json", config}});
  // A throttle keeps the transfer running while all eight requests arrive.
  auto hub = start_hub(scratch.path() / "hub", "", 4 * 1024 * 1024);
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();

  std::vector<std::future<timmd::proto::Result<json>>> pulls;
  for (int i = 0; i < 8; ++i) {
    pulls.push_back(std::async(std::launch::async, [&daemon] {
      auto connection = daemon.connect();
      return connection.request("pull", {{"name", "org/shared"}});
    }));
  }
  for (auto& future : pulls) {
    auto result = future.get();
    REQUIRE_MESSAGE(result, (result ? "" : result.error().message));
    CHECK((*result)["files"].size() == 2);
  }

  // Every byte range of the weights was fetched exactly once, and config.json once.
  std::multiset<std::string> ranges;
  for (const auto& record : hub->requests()) {
    if (record.listener == "cdn" && record.method == "GET") {
      ranges.insert(record.range);
    }
  }
  CHECK(ranges.size() == 8); // 8 MiB in 1 MiB chunks
  for (const auto& range : ranges) {
    CHECK(ranges.count(range) == 1);
  }
  CHECK(count_requests(*hub, "api", "GET", "/config.json") == 1);
  // Each pull asks for the revision's commit; requests that overlap share one Hub request, but
  // whether all eight overlap depends on timing (under AddressSanitizer they often do not), so
  // only the bound is checked here. tests/server/test_single_flight.cpp covers the sharing.
  const auto revision_requests = count_requests(*hub, "api", "GET", "/revision/main");
  CHECK(revision_requests >= 1);
  CHECK(revision_requests <= 8);
}

// timmctl as a user runs it: exit codes, plain and JSON output.
#include "tests/integration/daemon_fixture.hpp"

#include <doctest/doctest.h>

using namespace timmd::testing;
using nlohmann::json;

TEST_CASE("timmctl pull, list and status") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  auto hub = start_hub(data_dir() / "timm" / "demo-repo");
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  const auto socket = daemon.socket().string();

  auto pull = run_timmctl({"--socket", socket, "pull", "timm/test_vit.r160_in1k"});
  CHECK(pull.status == 0);
  CHECK(pull.out.find("commit") != std::string::npos);
  CHECK(pull.out.find("model.safetensors") != std::string::npos);
  // Without a terminal, progress is one plain line per file state and no escape sequences.
  CHECK(pull.err.find("\x1b[") == std::string::npos);

  auto again = run_timmctl({"pull", "timm/test_vit.r160_in1k", "--json", "--socket", socket});
  CHECK(again.status == 0);
  const auto result = json::parse(again.out);
  CHECK(result["files"][0]["cached"] == true);

  auto list = run_timmctl({"--socket", socket, "--json", "list"});
  CHECK(list.status == 0);
  CHECK(json::parse(list.out)["snapshots"][0]["repo"] == "timm/test_vit.r160_in1k");

  auto status = run_timmctl({"--socket", socket, "status"});
  CHECK(status.status == 0);
  CHECK(status.out.find("cache_dir") != std::string::npos);
}

TEST_CASE("timmctl gc warns when pins keep the cache large") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  auto hub = start_hub(data_dir() / "timm" / "demo-repo");
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  const auto socket = daemon.socket().string();
  REQUIRE(run_timmctl({"--socket", socket, "pull", "timm/test_vit.r160_in1k"}).status == 0);
  const auto pinned = run_timmctl({"--socket", socket, "pin", "timm/test_vit.r160_in1k"});
  REQUIRE(pinned.status == 0);
  CHECK(pinned.out.find("pinned 2 blobs of timm/test_vit.r160_in1k@main") != std::string::npos);

  auto kept = run_timmctl({"--socket", socket, "gc", "--max-size", "0"});
  CHECK(kept.status == 0);
  CHECK(kept.out.find("kept by pins: 2") != std::string::npos);
  CHECK(kept.err.find("the cache stays above the target of 0 B because of 2 pinned and 0 in-use blobs") !=
        std::string::npos);
  CHECK(kept.err.find("timmctl unpin NAME") != std::string::npos);
  CHECK(kept.err.find("Close the clients") == std::string::npos);

  const auto unpinned = run_timmctl({"--socket", socket, "unpin", "timm/test_vit.r160_in1k"});
  REQUIRE(unpinned.status == 0);
  CHECK(unpinned.out.find("removed one pin from 2 of 2 blobs") != std::string::npos);
  const auto again = run_timmctl({"--socket", socket, "unpin", "timm/test_vit.r160_in1k"});
  CHECK(again.status == 0);
  CHECK(again.out.find("was not pinned; nothing changed") != std::string::npos);

  auto freed = run_timmctl({"--socket", socket, "gc", "--max-size", "0"});
  CHECK(freed.status == 0);
  CHECK(freed.err.find("stays above") == std::string::npos);
}

TEST_CASE("timmctl exit codes for errors and bad usage") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  auto hub = start_hub(data_dir() / "timm" / "demo-repo");
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  const auto socket = daemon.socket().string();

  auto missing = run_timmctl({"--socket", socket, "pull", "org/missing"});
  CHECK(missing.status == 1);
  CHECK(missing.err.find("not_found") != std::string::npos);

  auto json_error = run_timmctl({"--socket", socket, "--json", "pull", "org/missing"});
  CHECK(json_error.status == 1);
  CHECK(json::parse(json_error.out)["error"]["code"] == "not_found");

  CHECK(run_timmctl({"pull"}).status == 2);
  CHECK(run_timmctl({"frobnicate"}).status == 2);
  CHECK(run_timmctl({"--help"}).status == 0);

  auto no_daemon = run_timmctl({"--socket", (scratch.path() / "nobody.sock").string(), "status"});
  CHECK(no_daemon.status == 1);
  CHECK(no_daemon.err.find("nobody.sock") != std::string::npos);
}

TEST_CASE("timmctl inspect and convert local checkpoints") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto legacy = data_dir() / "real" / "weights" / "akamaster_resnet20-12fca82f.th";

  auto inspect = run_timmctl({"inspect", legacy.string()});
  CHECK(inspect.status == 0);
  CHECK(inspect.out.find("torch_legacy") != std::string::npos);
  CHECK(inspect.out.find("module.conv1.weight") != std::string::npos);

  const auto converted = scratch.path() / "resnet20.safetensors";
  auto convert = run_timmctl({"convert", legacy.string(), "-o", converted.string()});
  CHECK(convert.status == 0);
  auto original = json::parse(run_timmctl({"--json", "inspect", legacy.string()}).out);
  auto copy = json::parse(run_timmctl({"--json", "inspect", converted.string()}).out);
  CHECK(copy["format"] == "safetensors");
  CHECK(copy["tensors"].size() == original["tensors"].size());

  auto broken = run_timmctl({"inspect", (data_dir() / "real" / "format-edge" / "burn-store" / "broken.pt").string()});
  CHECK(broken.status == 1);
  CHECK(broken.err.find("broken.pt") != std::string::npos);

  CHECK(run_timmctl({"inspect", (scratch.path() / "missing.bin").string()}).status == 2);
}

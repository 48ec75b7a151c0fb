// `open` through the real daemon, socket and client library: the timm cases reproduced from the
// Hub, zero-copy and derived serving, one materialisation for concurrent clients, leases that
// end with the client, rule files rejected on reload, and manifests that cannot be met.
#include "client/timmd_client.hpp"
#include "tests/integration/daemon_fixture.hpp"

#include "daemon/tensors/byte_source.hpp"
#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/tensor_data.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <future>
#include <thread>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace timmd::testing;
using nlohmann::json;
using timmd::client::Client;
using timmd::client::MappedCheckpoint;

namespace {

constexpr const char* k_demo = "timm/test_vit.r160_in1k";

json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

MappedCheckpoint open_ok(Client& client, const std::string& name, const json& filter = json::object()) {
  auto opened = client.open(name, filter);
  REQUIRE_MESSAGE(opened.has_value(), (opened ? std::string() : opened.error().message));
  return std::move(*opened);
}

Client connect(const DaemonProcess& daemon) {
  auto client = Client::connect(daemon.socket());
  REQUIRE_MESSAGE(client.has_value(), (client ? std::string() : client.error().message));
  return std::move(*client);
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

// Every tensor of `expected` (a safetensors file) is in `served` with the same dtype, shape and bytes.
void check_equal_to_file(const MappedCheckpoint& served, const std::filesystem::path& expected) {
  auto source = timmd::tensors::FileSource::open(expected);
  REQUIRE(source.has_value());
  auto checkpoint = timmd::tensors::read_checkpoint(*source);
  REQUIRE(checkpoint.has_value());
  CHECK(served.tensors().size() == checkpoint->tensors.size());
  for (const auto& info : checkpoint->tensors) {
    CAPTURE(info.name);
    const auto* view = served.find(info.name);
    REQUIRE(view != nullptr);
    CHECK(view->dtype == timmd::tensors::safetensors_name(info.dtype));
    CHECK(view->shape == info.shape);
    auto bytes = timmd::tensors::read_tensor(*source, info);
    REQUIRE(bytes.has_value());
    REQUIRE(view->data.size() == bytes->bytes().size());
    CHECK(std::memcmp(view->data.data(), bytes->bytes().data(), view->data.size()) == 0);
  }
}

int leases(Client& client) {
  auto status = client.connection().request("status");
  REQUIRE(status.has_value());
  return (*status)["leases"].get<int>();
}

} // namespace

TEST_CASE("open reproduces each timm case through the Hub, the daemon and the socket") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto cases = data_dir() / "timm";
  const std::vector<std::string> names = {"a_test_vit_identity",
                                          "b_test_vit_depth1_num_classes_10",
                                          "c1_test_vit_depth1_in_chans_1",
                                          "c2_test_vit_depth1_in_chans_4",
                                          "g1_test_convnext_from_fb_layout",
                                          "j_test_efficientnet_in_chans_1_num_classes_5"};
  for (const auto& name : names) {
    make_repo(scratch.path() / "hub", "cases/" + name,
              {{"model.safetensors", cases / name / "input" / "model.safetensors"},
               {"config.json", cases / name / "input" / "config.json"}});
  }
  auto hub = start_hub(scratch.path() / "hub");
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  auto client = connect(daemon);

  for (const auto& name : names) {
    CAPTURE(name);
    const auto request = read_json_file(cases / name / "request.json");
    const auto expected = read_json_file(cases / name / "expected.json");
    const auto served = open_ok(client, "cases/" + name, request["request_kwargs"]);
    CHECK(served.info()["strict"] == expected["strict"]);
    check_equal_to_file(served, cases / name / "expected.safetensors");
  }
}

TEST_CASE("a selecting filter serves the stored blob; a changing one a derived blob, found again after a restart") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  auto hub = start_hub(data_dir() / "timm" / "demo-repo");
  auto daemon = std::make_unique<DaemonProcess>(scratch.path() / "daemon", DaemonOptions{hub->endpoint()});
  daemon->start();
  std::string derived_sha;
  {
    auto client = connect(*daemon);
    const auto plain = open_ok(client, k_demo, {{"include", {"blocks.0.*", "cls_token"}}});
    CHECK(plain.info()["served"]["derived"] == false);
    CHECK(plain.info()["served"]["sha256"] == plain.info()["weights"]["sha256"]);
    CHECK(plain.tensors().size() == 13);

    const json filter = {{"num_classes", 10}, {"img_size", 224}};
    const auto first = open_ok(client, k_demo, filter);
    CHECK(first.info()["served"]["derived"] == true);
    CHECK(first.info()["served"]["prepared"] == "now");
    CHECK(first.info()["strict"] == false);
    CHECK(first.find("head.weight") == nullptr);
    REQUIRE(first.find("pos_embed") != nullptr);
    CHECK(first.find("pos_embed")->shape == std::vector<std::uint64_t>{1, 197, 64});
    derived_sha = first.info()["served"]["sha256"].get<std::string>();
    CHECK(sha256_of(cached_blobs(daemon->cache_dir()).at(derived_sha)) == derived_sha);

    const auto second = open_ok(client, k_demo, {{"img_size", {224, 224}}, {"num_classes", 10}});
    CHECK(second.info()["served"]["prepared"] == "memory");
    CHECK(second.info()["served"]["sha256"] == derived_sha);
  }
  daemon->terminate();
  daemon = std::make_unique<DaemonProcess>(scratch.path() / "daemon", DaemonOptions{hub->endpoint()});
  daemon->start();
  auto client = connect(*daemon);
  const auto after_restart = open_ok(client, k_demo, {{"num_classes", 10}, {"img_size", 224}});
  CHECK(after_restart.info()["served"]["prepared"] == "derived_cache");
  CHECK(after_restart.info()["served"]["sha256"] == derived_sha);
  CHECK(after_restart.find("pos_embed")->shape == std::vector<std::uint64_t>{1, 197, 64});
}

TEST_CASE("two processes opening the same filtered model concurrently materialise it once") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  auto hub = start_hub(data_dir() / "timm" / "demo-repo");
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  const auto socket = daemon.socket().string();
  const std::vector<std::string> args = {"--socket", socket,      "--json",       "open", k_demo,
                                         "--in-chans", "1", "--img-size", "320"};
  auto a = std::async(std::launch::async, [&] { return run_timmctl(args); });
  auto b = std::async(std::launch::async, [&] { return run_timmctl(args); });
  const auto first = a.get();
  const auto second = b.get();
  REQUIRE_MESSAGE(first.status == 0, first.err);
  REQUIRE_MESSAGE(second.status == 0, second.err);
  CHECK(json::parse(first.out)["served"]["sha256"] == json::parse(second.out)["served"]["sha256"]);
  CHECK(count_of(daemon.log(), "materialised derived blob") == 1);
}

TEST_CASE("a client that dies while holding a lease releases it") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  auto hub = start_hub(data_dir() / "timm" / "demo-repo");
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  auto observer = connect(daemon);
  CHECK(leases(observer) == 0);

  const auto child = start_program({TEST_CLIENT_BINARY, "open-and-hold", daemon.socket().string(), k_demo});
  char byte = 0;
  REQUIRE(::read(child.out, &byte, 1) == 1);
  ::close(child.out);
  CHECK(byte == '1');
  CHECK(leases(observer) == 1);

  ::kill(child.pid, SIGKILL);
  ::waitpid(child.pid, nullptr, 0);
  int held = 1;
  for (int i = 0; i < 100 && held != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    held = leases(observer);
  }
  CHECK(held == 0);

  auto mine = open_ok(observer, k_demo);
  const auto lease = mine.info()["lease"].get<std::uint64_t>();
  CHECK(leases(observer) == 1);
  CHECK(observer.connection().request("release", {{"lease", lease}}).has_value());
  CHECK(leases(observer) == 0);
  auto again = observer.connection().request("release", {{"lease", lease}});
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code == timmd::proto::Errc::not_found);
}

TEST_CASE("a rule file with an error is rejected with its location and the daemon keeps serving") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto rules = scratch.path() / "rules";
  std::filesystem::create_directories(rules);
  std::filesystem::copy_file(data_dir().parent_path().parent_path() / "config" / "remap" / "vit.json", rules / "vit.json");
  auto hub = start_hub(data_dir() / "timm" / "demo-repo");
  DaemonOptions options{hub->endpoint()};
  options.config = {{"remap_dir", rules.string()}};
  DaemonProcess daemon(scratch.path() / "daemon", options);
  daemon.start();
  auto client = connect(daemon);

  {
    std::ofstream broken(rules / "zz_broken.json");
    broken << R"({"family": "broken", "architectures": ["x*"], "steps": [{"op": "rename", "pattern": "(", "to": "y"}]})";
  }
  auto reload = client.connection().request("reload");
  REQUIRE_FALSE(reload.has_value());
  CHECK(reload.error().code == timmd::proto::Errc::invalid_request);
  CHECK(reload.error().message.find("zz_broken.json step 0 (rename)") != std::string::npos);
  CHECK(reload.error().details["field"] == "pattern");

  const auto served = open_ok(client, k_demo, {{"img_size", 192}});
  CHECK(served.info()["family"] == "vit");
  CHECK(served.find("pos_embed")->shape == std::vector<std::uint64_t>{1, 145, 64});

  std::filesystem::remove(rules / "zz_broken.json");
  auto fixed = client.connection().request("reload");
  REQUIRE_MESSAGE(fixed.has_value(), (fixed ? std::string() : fixed.error().message));
  CHECK((*fixed)["remap"]["files"].size() == 1);
}

TEST_CASE("a manifest that cannot be met is an invalid_request listing the mismatched keys") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  auto hub = start_hub(data_dir() / "timm" / "demo-repo");
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  auto client = connect(daemon);
  const auto plain = open_ok(client, k_demo);

  json tensors = json::array();
  for (const auto& tensor : plain.tensors()) {
    auto shape = tensor.shape;
    if (tensor.name == "blocks.0.norm1.weight") {
      shape = {65};
    }
    if (tensor.name != "head.bias") {
      tensors.push_back({{"name", tensor.name}, {"shape", shape}, {"dtype", "float32"}});
    }
  }
  auto failed = client.open(k_demo, {{"manifest", {{"tensors", tensors}}}});
  REQUIRE_FALSE(failed.has_value());
  CHECK(failed.error().code == timmd::proto::Errc::invalid_request);
  CHECK(failed.error().message.find("blocks.0.norm1.weight (64,) vs (65,)") != std::string::npos);
  CHECK(failed.error().details["mismatched"].size() == 1);

  tensors = json::array();
  for (const auto& tensor : plain.tensors()) {
    if (tensor.name != "head.bias") {
      tensors.push_back({{"name", tensor.name}, {"shape", tensor.shape}});
    }
  }
  tensors.push_back({{"name", "extra.weight"}, {"shape", {2}}});
  const auto met = open_ok(client, k_demo, {{"manifest", {{"tensors", tensors}}}});
  CHECK(met.info()["missing_keys"] == json({"extra.weight"}));
  CHECK(met.info()["unexpected_keys"] == json({"head.bias"}));
  CHECK(met.tensors().back().name == "head.bias");
}

TEST_CASE("a repository whose weights are only a JAX .npz is served in timm's layout") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto npz = data_dir() / "remap" / "npz";
  const auto config = scratch.path() / "config.json";
  {
    std::ofstream out(config);
    out << json{{"architecture", "vit_tiny_patch4_16"},
                {"num_classes", 5},
                {"pretrained_cfg", {{"first_conv", "patch_embed.proj"}, {"classifier", "head"}, {"num_classes", 5}}}}
               .dump();
  }
  make_repo(scratch.path() / "hub", "google/vit-npz",
            {{"ViT-Ti_4-i21k.npz", npz / "big_vision.npz"}, {"config.json", config}});
  auto hub = start_hub(scratch.path() / "hub");
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  auto client = connect(daemon);

  const auto served = open_ok(client, "google/vit-npz");
  CHECK(served.info()["weights"]["format"] == "numpy_npz");
  CHECK(served.info()["served"]["derived"] == true);
  check_equal_to_file(served, npz / "expected.safetensors");
}

TEST_CASE("PyTorch checkpoints are served from their stored bytes, renamed where the rules say") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto weights = data_dir() / "real" / "weights";
  const auto config = scratch.path() / "config.json";
  {
    std::ofstream out(config);
    out << json{{"architecture", "resnet20"}, {"pretrained_cfg", {{"first_conv", "conv1"}, {"classifier", "linear"}}}}
               .dump();
  }
  make_repo(scratch.path() / "hub", "burn/mnist", {{"pytorch_model.bin", weights / "burn_mnist.pt"}});
  make_repo(scratch.path() / "hub", "akamaster/resnet20",
            {{"pytorch_model.bin", weights / "akamaster_resnet20-12fca82f.th"}, {"config.json", config}});
  auto hub = start_hub(scratch.path() / "hub");
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint()});
  daemon.start();
  auto client = connect(daemon);

  // The served byte ranges must hold what the checkpoint reader copies out of the zip.
  const auto converted = scratch.path() / "mnist.safetensors";
  REQUIRE(run_timmctl({"convert", (weights / "burn_mnist.pt").string(), "-o", converted.string()}).status == 0);
  const auto mnist = open_ok(client, "burn/mnist");
  CHECK(mnist.info()["weights"]["format"] == "torch_zip");
  CHECK(mnist.info()["served"]["derived"] == false);
  check_equal_to_file(mnist, converted);

  const auto resnet = open_ok(client, "akamaster/resnet20");
  CHECK(resnet.info()["weights"]["format"] == "torch_legacy");
  CHECK(resnet.info()["family"] == "resnet");
  CHECK(resnet.info()["served"]["derived"] == false);
  CHECK(resnet.tensors().size() == 97);
  CHECK(resnet.find("conv1.weight") != nullptr);
  CHECK(resnet.find("module.conv1.weight") == nullptr);

  const auto grey = open_ok(client, "akamaster/resnet20", {{"in_chans", 1}});
  CHECK(grey.info()["served"]["derived"] == true);
  CHECK(grey.find("conv1.weight")->shape == std::vector<std::uint64_t>{16, 1, 3, 3});
}

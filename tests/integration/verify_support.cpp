#include "tests/integration/verify_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>

namespace timmd::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path demo_dir() {
  return data_dir() / "timm" / "demo-repo" / "timm" / "test_vit.r160_in1k";
}

// The demo config.json with another crop_pct, so that each copy is a blob of its own.
fs::path config_copy(const fs::path& dir, const std::string& name, double crop_pct) {
  std::ifstream in(demo_dir() / "config.json");
  auto config = json::parse(in);
  config["pretrained_cfg"]["crop_pct"] = crop_pct;
  const auto path = dir / name;
  fs::create_directories(dir);
  std::ofstream(path) << config.dump(2);
  return path;
}

} // namespace

CacheSetup::CacheSetup() {
  const auto root = scratch.path() / "hub";
  const auto configs = scratch.path() / "configs";
  const auto weights = demo_dir() / "model.safetensors";
  make_repo(root, "org/alpha", {{"model.safetensors", weights}, {"config.json", demo_dir() / "config.json"}});
  make_repo(root, "org/beta", {{"model.safetensors", weights}, {"config.json", config_copy(configs, "beta", 0.5)}});
  make_repo(root, "org/gamma", {{"model.safetensors", weights}, {"config.json", config_copy(configs, "main", 0.6)}});
  make_repo(root / "org" / "gamma" / ".hub", "v1",
            {{"model.safetensors", weights}, {"config.json", config_copy(configs, "v1", 0.7)}});
  std::ofstream(root / "org" / "gamma" / ".hub" / "config.json")
      << json{{"refs", {{"refs/tags/v1.0", "v1"}}}}.dump();

  hub = start_hub(root);
  daemon = std::make_unique<DaemonProcess>(scratch.path() / "daemon", DaemonOptions{hub->endpoint()});
  daemon->start();
}

json CacheSetup::call(const std::string& op, json params) const {
  auto connection = daemon->connect();
  auto result = connection.request(op, std::move(params));
  REQUIRE_MESSAGE(result.has_value(), op << ": " << (result ? std::string() : result.error().message));
  return *result;
}

std::string CacheSetup::blob_of(const json& pulled, const std::string& path) {
  for (const auto& file : pulled["files"]) {
    if (file["path"] == path) {
      return file["sha256"].get<std::string>();
    }
  }
  FAIL("no file " << path << " in " << pulled.dump());
  return {};
}

fs::path CacheSetup::blob_path(const std::string& sha256) const {
  return daemon->cache_dir() / "blobs" / "sha256" / sha256.substr(0, 2) / sha256;
}

std::vector<std::string> CacheSetup::quarantined() const {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(daemon->cache_dir() / "quarantine", error)) {
    names.push_back(entry.path().filename().string());
  }
  std::ranges::sort(names);
  return names;
}

void flip_byte(const fs::path& file, std::uint64_t offset) {
  fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
  std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
  stream.seekg(static_cast<std::streamoff>(offset));
  char byte = 0;
  stream.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x01);
  stream.seekp(static_cast<std::streamoff>(offset));
  stream.write(&byte, 1);
  REQUIRE(stream.good());
  stream.close();
  fs::permissions(file, fs::perms::owner_write, fs::perm_options::remove);
}

void truncate_file(const fs::path& file, std::uint64_t size) {
  fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
  fs::resize_file(file, size);
  fs::permissions(file, fs::perms::owner_write, fs::perm_options::remove);
}

} // namespace timmd::testing

// Shared setup of the `verify` and `remove` tests: a test Hub with repositories that share
// their weights file, a daemon on a fresh cache, and ways to damage the cache from outside.
#pragma once

#include "tests/integration/daemon_fixture.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace timmd::testing {

// org/alpha and org/beta hold the demo weights and each its own config.json. org/gamma has a
// main branch and a tag v1.0 with the same weights and different config.json files.
struct CacheSetup {
  ScratchDir scratch;
  std::unique_ptr<testhub::Server> hub;
  std::unique_ptr<DaemonProcess> daemon;

  CacheSetup();

  // Sends one request and returns its result; fails the test on an error.
  nlohmann::json call(const std::string& op, nlohmann::json params = nlohmann::json::object()) const;
  // The blob sha256 of `path` in a pull result.
  static std::string blob_of(const nlohmann::json& pulled, const std::string& path);
  std::filesystem::path blob_path(const std::string& sha256) const;
  // Names of the files in CACHE/quarantine/, sorted.
  std::vector<std::string> quarantined() const;
};

// Writes to a read-only blob file: flips the byte at `offset`, or truncates it to `size`.
void flip_byte(const std::filesystem::path& file, std::uint64_t offset);
void truncate_file(const std::filesystem::path& file, std::uint64_t size);

} // namespace timmd::testing

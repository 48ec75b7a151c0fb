// Shared helpers of the registry tests: the bundled data and scratch directories.
#pragma once

#include "daemon/registry/registry.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <unistd.h>

namespace timmd::registry::test {

inline std::filesystem::path registry_dir() {
  return std::filesystem::path(TIMMD_SOURCE_DIR) / "config" / "registry";
}

inline std::filesystem::path corpus_dir() {
  return std::filesystem::path(TIMMD_SOURCE_DIR) / "tests" / "registry" / "data";
}

// The shipped registry (timm data plus overrides), loaded once for all tests.
inline const Registry& bundled_registry() {
  static const auto registry = [] {
    auto loaded = Registry::load(bundled_registry_files(registry_dir()));
    REQUIRE_MESSAGE(loaded.has_value(), (loaded ? std::string() : loaded.error().message));
    return *loaded;
  }();
  return *registry;
}

// timm-registry.json as plain JSON, so tests derive expected results from the data itself.
inline const nlohmann::json& raw_timm_registry() {
  static const auto document = [] {
    std::ifstream in(registry_dir() / "timm-registry.json");
    return nlohmann::json::parse(in);
  }();
  return document;
}

inline const nlohmann::json& raw_overrides() {
  static const auto document = [] {
    std::ifstream in(registry_dir() / "overrides.json");
    return nlohmann::json::parse(in);
  }();
  return document;
}

// A fresh directory under the system temporary directory, removed when the test ends.
class TempDir {
public:
  TempDir() {
    static std::atomic<int> counter{0};
    m_path = std::filesystem::temp_directory_path() /
             ("timmd-test-registry-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(m_path);
    std::filesystem::create_directories(m_path);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(m_path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::filesystem::path write(const std::string& name, std::string_view text) const {
    const auto file = m_path / name;
    std::ofstream out(file, std::ios::binary);
    out << text;
    return file;
  }

  const std::filesystem::path& path() const { return m_path; }

private:
  std::filesystem::path m_path;
};

} // namespace timmd::registry::test

// Helpers shared by the tensors tests.
#pragma once

#include "daemon/tensors/byte_source.hpp"
#include "daemon/tensors/checkpoint.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace timmd::tensors::test {

// Root of the source tree (compile definition), so tests run from any directory.
std::filesystem::path source_dir();

// Lowercase hex SHA-256 of `bytes`.
std::string sha256_hex(std::span<const std::byte> bytes);

// Contents of a file; fails the calling test when it cannot be read.
std::vector<std::byte> read_file(const std::filesystem::path& path);

// A directory under the system temporary directory, removed by the destructor.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }

private:
  std::filesystem::path m_path;
};

// Bytes built from a string literal, for hand-written file contents.
std::vector<std::byte> bytes_of(std::string_view text);

} // namespace timmd::tensors::test

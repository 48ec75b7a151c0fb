// Test helpers for the store: a fresh directory per test, a tmpfs mount for disk-full cases,
// small file utilities, and printing of results in failed assertions.
#pragma once

#include "proto/error.hpp"
#include "tests/support/result_string.hpp"
#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <sstream>
#include <string_view>


namespace timmd::testing {


// A tmpfs of a given size mounted on a directory for the lifetime of the object. Mounting needs
// root (CAP_SYS_ADMIN); when it fails, mounted() is false and failure() returns the reason.
class TmpfsMount {
public:
  TmpfsMount(std::filesystem::path dir, std::string_view size_option);
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  bool mounted() const noexcept { return m_mounted; }
  const std::string& failure() const noexcept { return m_failure; }

private:
  std::filesystem::path m_dir;
  bool m_mounted = false;
  std::string m_failure;
};

std::string read_file(const std::filesystem::path& path);


std::string sha256_of(std::string_view content);
std::string git_oid_of(std::string_view content);

// Permission bits (mode & 0777) of a file, without following a final symlink.
unsigned file_mode(const std::filesystem::path& path);

} // namespace timmd::testing

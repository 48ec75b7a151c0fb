// Test helpers for the store: a fresh directory per test, a tmpfs mount for disk-full cases,
// small file utilities, and printing of results in failed assertions.
#pragma once

#include "proto/error.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <sstream>
#include <string_view>

// Prints a Result in failed assertions as "ok" or its error. Without it doctest would pick
// boost::system::result's operator<<, which fails to compile for values that cannot be printed.
template <class T>
struct doctest::StringMaker<boost::system::result<T, timmd::proto::Error>> {
  static String convert(const boost::system::result<T, timmd::proto::Error>& result) {
    if (result.has_value()) {
      return "ok";
    }
    std::ostringstream out;
    out << result.error();
    return out.str().c_str();
  }
};

namespace timmd::testing {

// A new directory under $TMPDIR (or /tmp). It is removed when the current test case has no
// failed assertion, and kept with its path printed otherwise, for inspection.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return m_path; }
  std::filesystem::path operator/(std::string_view name) const { return m_path / name; }

private:
  std::filesystem::path m_path;
};

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

void write_file(const std::filesystem::path& path, std::string_view content);
std::string read_file(const std::filesystem::path& path);

// Deterministic pseudo-random bytes, different for each seed.
std::string make_content(std::size_t size, unsigned seed);

std::string sha256_of(std::string_view content);
std::string git_oid_of(std::string_view content);

// Permission bits (mode & 0777) of a file, without following a final symlink.
unsigned file_mode(const std::filesystem::path& path);

} // namespace timmd::testing

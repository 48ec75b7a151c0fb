// Test support for the server units: a scratch directory kept when a test fails, environment
// variables set for one test, and printing of results in failed assertions.
#pragma once

#include "proto/error.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

// Prints a Result in failed assertions as "ok" or its error.
template <class T> struct doctest::StringMaker<boost::system::result<T, timmd::proto::Error>> {
  static String convert(const boost::system::result<T, timmd::proto::Error>& result) {
    if (result.has_value()) {
      return "ok";
    }
    std::ostringstream out;
    out << result.error();
    return out.str().c_str();
  }
};

namespace timmd::server::testing {

// A new directory under $TMPDIR (or /tmp). It is removed when the current test case passed,
// and kept with its path printed otherwise.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return m_path; }

private:
  std::filesystem::path m_path;
};

void write_file(const std::filesystem::path& path, std::string_view content);

// Sets (or with nullopt, unsets) one environment variable and restores the old value on
// destruction.
class ScopedEnv {
public:
  ScopedEnv(std::string name, std::optional<std::string> value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
  std::string m_name;
  std::optional<std::string> m_old;
};

} // namespace timmd::server::testing

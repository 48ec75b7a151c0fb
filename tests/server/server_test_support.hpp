// Test support for the server units: a scratch directory kept when a test fails, environment
// variables set for one test, and printing of results in failed assertions.
#pragma once

#include "proto/error.hpp"
#include "tests/support/result_string.hpp"
#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>


namespace timmd::server::testing {

using timmd::testing::TempDir;
using timmd::testing::write_file;


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

#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <random>
#include <stdexcept>
#include <vector>

namespace timmd::testing {
namespace {

// Set when an assertion of the running test case fails; read by ~TempDir.
bool g_test_failed = false;

// Observes doctest's results so that the directories of failed tests survive.
class FailureListener : public doctest::IReporter {
public:
  explicit FailureListener(const doctest::ContextOptions&) {}

  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { g_test_failed = false; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override { g_test_failed = true; }
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData& data) override {
    if (data.m_failed) {
      g_test_failed = true;
    }
  }
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

REGISTER_LISTENER("timmd_temp_dirs", 1, FailureListener);

} // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  const std::filesystem::path parent = base != nullptr && *base != '\0' ? base : "/tmp";
  const auto pattern = (parent / "timmd-unit-XXXXXX").string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + " failed: " + std::strerror(errno));
  }
  m_path = buffer.data();
}

TempDir::~TempDir() {
  if (g_test_failed || std::uncaught_exceptions() > 0) {
    std::cerr << "test failed; kept its directory " << m_path << '\n';
    return;
  }
  std::error_code error;
  std::filesystem::remove_all(m_path, error);
}

void write_file(const std::filesystem::path& path, std::string_view content) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) {
    throw std::runtime_error("cannot write " + path.string());
  }
}

std::string make_content(std::size_t size, unsigned seed) {
  std::mt19937 engine(seed);
  std::string bytes(size, '\0');
  for (auto& byte : bytes) {
    byte = static_cast<char>(engine() & 0xFFU);
  }
  return bytes;
}

} // namespace timmd::testing

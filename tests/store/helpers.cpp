#include "helpers.hpp"

#include "daemon/store/digest.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <vector>

#include <sys/mount.h>
#include <sys/stat.h>

namespace timmd::testing {
namespace {

// Set when an assertion of the running test case fails; read by ~TempDir.
bool g_test_failed = false;

// Observes doctest's results so that temporary directories survive failed tests.
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
  const std::filesystem::path parent = base && *base ? base : "/tmp";
  const auto pattern = (parent / "timmd-store-XXXXXX").string();
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

TmpfsMount::TmpfsMount(std::filesystem::path dir, std::string_view size_option)
  : m_dir(std::move(dir)) {
  const auto options = "size=" + std::string(size_option);
  if (::mount("tmpfs", m_dir.c_str(), "tmpfs", 0, options.c_str()) == 0) {
    m_mounted = true;
  } else {
    m_failure = "mount -t tmpfs -o " + options + " tmpfs " + m_dir.string() +
                " failed: " + std::strerror(errno);
  }
}

TmpfsMount::~TmpfsMount() {
  if (m_mounted && ::umount2(m_dir.c_str(), MNT_DETACH) != 0) {
    std::cerr << "umount " << m_dir << " failed: " << std::strerror(errno) << '\n';
  }
}

void write_file(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) {
    throw std::runtime_error("cannot write " + path.string());
  }
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path.string());
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string make_content(std::size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::string content(size, '\0');
  for (auto& c : content) {
    c = static_cast<char>(generator() & 0xff);
  }
  return content;
}

std::string sha256_of(std::string_view content) {
  auto hasher = store::Hasher::sha256();
  hasher.update(content);
  return hasher.final_hex();
}

std::string git_oid_of(std::string_view content) {
  auto hasher = store::Hasher::git_blob_sha1(content.size());
  hasher.update(content);
  return hasher.final_hex();
}

unsigned file_mode(const std::filesystem::path& path) {
  struct stat status {};
  if (::lstat(path.c_str(), &status) != 0) {
    throw std::runtime_error("lstat " + path.string() + " failed: " + std::strerror(errno));
  }
  return status.st_mode & 0777;
}

} // namespace timmd::testing

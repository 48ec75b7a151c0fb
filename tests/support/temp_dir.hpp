// Scratch directories and files for unit tests.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

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

// Creates `path`, and its parent directories, holding `content`. Throws on failure.
void write_file(const std::filesystem::path& path, std::string_view content);

// Deterministic pseudo-random bytes, different for each seed.
std::string make_content(std::size_t size, unsigned seed);

} // namespace timmd::testing

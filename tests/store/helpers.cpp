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


std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path.string());
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
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

#include "tests/hubserver/file_hashes.hpp"

#include "tests/hubserver/file_descriptor.hpp"

#include <openssl/evp.h>

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <tuple>
#include <vector>

namespace timmd::testhub {

namespace {

constexpr std::size_t k_read_size = 1024 * 1024;

struct DigestContextDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using DigestContext = std::unique_ptr<EVP_MD_CTX, DigestContextDeleter>;

class Digest {
 public:
  explicit Digest(const EVP_MD* algorithm) : m_context(EVP_MD_CTX_new()) {
    if (!m_context || EVP_DigestInit_ex(m_context.get(), algorithm, nullptr) != 1) {
      throw std::runtime_error("EVP_DigestInit_ex failed");
    }
  }

  void update(const void* data, std::size_t size) {
    if (EVP_DigestUpdate(m_context.get(), data, size) != 1) {
      throw std::runtime_error("EVP_DigestUpdate failed");
    }
  }

  std::string final_hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(m_context.get(), digest.data(), &size) != 1) {
      throw std::runtime_error("EVP_DigestFinal_ex failed");
    }
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(size * 2);
    for (unsigned int i = 0; i < size; ++i) {
      hex.push_back(k_hex[digest[i] >> 4U]);
      hex.push_back(k_hex[digest[i] & 0x0FU]);
    }
    return hex;
  }

 private:
  DigestContext m_context;
};

enum class HashKind { git_blob_sha1, sha256 };

std::string hash_file(const std::filesystem::path& path, HashKind kind, std::uintmax_t size) {
  FileDescriptor file(path);
  Digest digest(kind == HashKind::sha256 ? EVP_sha256() : EVP_sha1());
  if (kind == HashKind::git_blob_sha1) {
    const auto prefix = "blob " + std::to_string(size);
    digest.update(prefix.data(), prefix.size() + 1); // the NUL terminator belongs to the git header
  }

  std::vector<char> buffer(k_read_size);
  std::uintmax_t total = 0;
  for (;;) {
    const auto count = file.read_at(total, buffer.data(), buffer.size());
    if (count == 0) {
      break;
    }
    digest.update(buffer.data(), count);
    total += count;
  }

  if (total != size) {
    throw std::runtime_error(path.string() + " changed size while it was hashed");
  }
  return digest.final_hex();
}

using CacheKey = std::tuple<std::string, std::uintmax_t, std::filesystem::file_time_type, HashKind>;

std::string cached_file_hash(const std::filesystem::path& path, HashKind kind) {
  static std::mutex mutex;
  static std::map<CacheKey, std::string> cache;

  const auto size = std::filesystem::file_size(path);
  const auto mtime = std::filesystem::last_write_time(path);
  CacheKey key{std::filesystem::absolute(path).string(), size, mtime, kind};
  {
    const std::lock_guard lock(mutex);
    if (const auto found = cache.find(key); found != cache.end()) {
      return found->second;
    }
  }

  // Hashing runs outside the lock, so two threads may hash the same file once each, and
  // both store the same value.
  auto hex = hash_file(path, kind, size);
  const std::lock_guard lock(mutex);
  cache.emplace(std::move(key), hex);
  return hex;
}

} // namespace

std::string git_blob_sha1(std::string_view data) {
  Digest digest(EVP_sha1());
  const auto prefix = "blob " + std::to_string(data.size());
  digest.update(prefix.data(), prefix.size() + 1);
  digest.update(data.data(), data.size());
  return digest.final_hex();
}

std::string sha256_hex(std::string_view data) {
  Digest digest(EVP_sha256());
  digest.update(data.data(), data.size());
  return digest.final_hex();
}

std::string sha1_hex(std::string_view data) {
  Digest digest(EVP_sha1());
  digest.update(data.data(), data.size());
  return digest.final_hex();
}

std::string file_git_blob_sha1(const std::filesystem::path& path) {
  return cached_file_hash(path, HashKind::git_blob_sha1);
}

std::string file_sha256(const std::filesystem::path& path) {
  return cached_file_hash(path, HashKind::sha256);
}

} // namespace timmd::testhub

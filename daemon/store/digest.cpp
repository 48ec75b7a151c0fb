#include "daemon/store/digest.hpp"

#include "daemon/store/file_handle.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace timmd::store {
namespace {

constexpr std::size_t k_read_size = 1024 * 1024;

bool is_lower_hex(std::string_view text, std::size_t length) {
  return text.size() == length && std::ranges::all_of(text, [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

struct EvpContextFree {
  void operator()(EVP_MD_CTX* context) const noexcept { EVP_MD_CTX_free(context); }
};

} // namespace

bool is_sha256_hex(std::string_view text) { return is_lower_hex(text, 64); }
bool is_sha1_hex(std::string_view text) { return is_lower_hex(text, 40); }

// OpenSSL fails to initialise only when it is out of memory or a provider forbids the
// algorithm. The daemon cannot verify anything then, so this throws rather than returning.
struct Hasher::Context {
  Context(const EVP_MD* algorithm, const char* name) : evp(EVP_MD_CTX_new()) {
    if (!evp || EVP_DigestInit_ex(evp.get(), algorithm, nullptr) != 1) {
      throw std::runtime_error(std::string("OpenSSL cannot initialise ") + name);
    }
  }

  std::unique_ptr<EVP_MD_CTX, EvpContextFree> evp;
};

Hasher::Hasher(DigestKind kind, std::unique_ptr<Context> context)
  : m_kind(kind), m_context(std::move(context)) {}

Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;
Hasher::~Hasher() = default;

Hasher Hasher::sha256() {
  return Hasher(DigestKind::sha256, std::make_unique<Context>(EVP_sha256(), "SHA-256"));
}

Hasher Hasher::git_blob_sha1(std::uint64_t size) {
  Hasher hasher(DigestKind::git_sha1, std::make_unique<Context>(EVP_sha1(), "SHA-1"));

  // git names a blob by the SHA-1 of "blob <size>\0" followed by the content.
  const auto header = "blob " + std::to_string(size);
  hasher.update(std::string_view(header.data(), header.size() + 1));
  return hasher;
}

void Hasher::update(std::span<const std::byte> data) {
  if (EVP_DigestUpdate(m_context->evp.get(), data.data(), data.size()) != 1) {
    throw std::runtime_error("OpenSSL digest update failed");
  }
}

void Hasher::update(std::string_view data) { update(std::as_bytes(std::span(data))); }

std::string Hasher::final_hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(m_context->evp.get(), digest, &length) != 1) {
    throw std::runtime_error("OpenSSL digest finalisation failed");
  }

  static constexpr char k_hex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex += k_hex[digest[i] >> 4];
    hex += k_hex[digest[i] & 0x0f];
  }
  return hex;
}

proto::Result<void> hash_file_into(const std::filesystem::path& path,
                                   std::span<Hasher* const> hashers) {
  const auto fd = open_file(path, O_RDONLY);
  if (!fd) {
    const int error = errno;
    if (error == ENOENT) {
      return proto::make_error(proto::Errc::not_found, "cannot hash " + path.string() +
                                                         " because the file does not exist",
                               {{"path", path.string()}});
    }
    return errno_error("opening for hashing", path, error);
  }

  std::vector<std::byte> buffer(k_read_size);
  for (;;) {
    const auto count = ::read(fd.get(), buffer.data(), buffer.size());
    if (count < 0 && errno == EINTR) {
      continue;
    }
    if (count < 0) {
      return errno_error("reading for hashing", path, errno);
    }
    if (count == 0) {
      return {};
    }
    const auto chunk = std::span(buffer).first(static_cast<std::size_t>(count));
    for (auto* hasher : hashers) {
      hasher->update(chunk);
    }
  }
}

proto::Result<void> hash_range_into(int fd, std::uint64_t offset, std::uint64_t length,
                                    const std::filesystem::path& path,
                                    std::span<Hasher* const> hashers) {
  std::vector<std::byte> buffer(static_cast<std::size_t>(std::min<std::uint64_t>(k_read_size, length)));
  while (length > 0) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), length));
    const auto count = ::pread(fd, buffer.data(), want, static_cast<off_t>(offset));
    if (count < 0 && errno == EINTR) {
      continue;
    }
    if (count < 0) {
      return errno_error("reading for hashing", path, errno);
    }
    if (count == 0) {
      return proto::make_error(proto::Errc::internal,
                               "cannot hash " + path.string() + ": the file ends at byte " +
                                 std::to_string(offset) + ", before the " + std::to_string(length) +
                                 " bytes still expected; it was truncated by another process",
                               {{"path", path.string()}});
    }
    const auto chunk = std::span(buffer).first(static_cast<std::size_t>(count));
    for (auto* hasher : hashers) {
      hasher->update(chunk);
    }
    offset += static_cast<std::uint64_t>(count);
    length -= static_cast<std::uint64_t>(count);
  }
  return {};
}

proto::Result<std::string> hash_file(const std::filesystem::path& path, DigestKind kind) {
  std::uint64_t size = 0;
  if (kind == DigestKind::git_sha1) {
    std::error_code error;
    size = std::filesystem::file_size(path, error);
    if (error) {
      const auto code = error == std::errc::no_such_file_or_directory ? proto::Errc::not_found
                                                                      : proto::Errc::internal;
      return proto::make_error(code, "cannot hash " + path.string() + ": " + error.message(),
                               {{"path", path.string()}});
    }
  }

  auto hasher = kind == DigestKind::sha256 ? Hasher::sha256() : Hasher::git_blob_sha1(size);
  Hasher* const hashers[] = {&hasher};
  if (auto hashed = hash_file_into(path, hashers); !hashed) {
    return hashed.error();
  }
  return hasher.final_hex();
}

} // namespace timmd::store

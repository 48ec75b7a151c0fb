// Streaming SHA-256 and git blob SHA-1 over OpenSSL EVP, and hex-digest checks.
#pragma once

#include "proto/error.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace timmd::store {

enum class DigestKind { sha256, git_sha1 };

// True for exactly 64 (sha256) or 40 (git sha1) lowercase hex digits.
bool is_sha256_hex(std::string_view text);
bool is_sha1_hex(std::string_view text);

// Incremental hash. For git_sha1 the object size must be known up front because git hashes
// the header "blob <size>\0" before the content.
class Hasher {
public:
  static Hasher sha256();
  static Hasher git_blob_sha1(std::uint64_t size);

  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  ~Hasher();

  void update(std::span<const std::byte> data);
  void update(std::string_view data);

  // Lowercase hex digest. REQUIRES: called once; the hasher cannot be updated afterwards.
  std::string final_hex();

  DigestKind kind() const noexcept { return m_kind; }

private:
  struct Context;
  Hasher(DigestKind kind, std::unique_ptr<Context> context);

  DigestKind m_kind;
  std::unique_ptr<Context> m_context;
};

// Hashes a whole file with 1 MiB reads; the error names the path on an I/O failure.
proto::Result<std::string> hash_file(const std::filesystem::path& path, DigestKind kind);

// Feeds bytes [offset, offset + length) of an open file to every hasher with 1 MiB preads, so
// that a download can hash its completed prefix while the rest arrives. A file that ends
// before the range does is `internal`; errors name `path`.
proto::Result<void> hash_range_into(int fd, std::uint64_t offset, std::uint64_t length,
                                    const std::filesystem::path& path,
                                    std::span<Hasher* const> hashers);

// Feeds a whole file to every hasher in one pass of 1 MiB reads, so that one read of a large
// file yields both its SHA-256 and its git blob SHA-1. A missing file is `not_found`, other
// I/O failures `internal`; both name the path.
proto::Result<void> hash_file_into(const std::filesystem::path& path,
                                   std::span<Hasher* const> hashers);

} // namespace timmd::store

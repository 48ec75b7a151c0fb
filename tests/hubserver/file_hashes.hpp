// Content hashes the Hub reports for a file: the git blob SHA-1 and the SHA-256.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace timmd::testhub {

// Returns the lowercase hex git blob id of `data`: SHA-1 over "blob <size>\0" + data.
std::string git_blob_sha1(std::string_view data);

// Returns the lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

// Returns the lowercase hex SHA-1 of `data`.
std::string sha1_hex(std::string_view data);

// Returns the git blob id of the file at `path`, read in 1 MiB pieces. Results are cached
// process-wide by (path, size, modification time), so several servers over the same fixtures
// hash each file once. Throws std::system_error when the file cannot be read.
std::string file_git_blob_sha1(const std::filesystem::path& path);

// Returns the SHA-256 of the file at `path`, cached and read like file_git_blob_sha1.
std::string file_sha256(const std::filesystem::path& path);

} // namespace timmd::testhub

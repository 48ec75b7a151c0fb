// Reading a stored blob file back to check it against its name and its index row.
#pragma once

#include "proto/error.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace timmd::store {

// What a blob file on disk holds.
struct BlobFileState {
  bool exists = false;
  std::uint64_t size = 0; // bytes on disk
  std::string sha256;     // of the content; empty when not hashed
  std::string git_oid;    // git blob SHA-1 of the content; empty unless requested
};

// Called after each read with the number of bytes just hashed.
using HashProgress = std::function<void(std::uint64_t bytes)>;

// Hashes the file at `path` in one pass of 1 MiB reads: its SHA-256, and its git blob SHA-1 too
// when `with_git_oid`. A missing file is a state with exists == false, not an error. When
// `expected_size` is given and differs from the size on disk the file is not read, because it
// cannot match its row (a truncated or extended blob). Other I/O failures are `internal`
// errors naming the path.
proto::Result<BlobFileState> read_blob_file(const std::filesystem::path& path, bool with_git_oid,
                                            std::optional<std::uint64_t> expected_size,
                                            const HashProgress& progress);

} // namespace timmd::store

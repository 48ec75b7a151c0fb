// Content-addressed blob files under CACHE/blobs/sha256/. A blob appears there only by
// rename(2) of a file whose SHA-256 was checked and whose data was fsynced.
#pragma once

#include "daemon/store/cache_layout.hpp"
#include "proto/error.hpp"

#include <filesystem>
#include <string_view>

namespace timmd::store {

class BlobStore {
public:
  // REQUIRES: layout outlives the store.
  explicit BlobStore(const CacheLayout& layout) : m_layout(layout) {}

  bool contains(std::string_view sha256) const;
  std::filesystem::path path(std::string_view sha256) const { return m_layout.blob_path(sha256); }

  // Publishes a complete temporary file (in CACHE/tmp) as the blob `sha256`. REQUIRES: the
  // caller has verified the content and fsynced the data. Makes the file read-only (0444),
  // renames it into place, and fsyncs the fan-out directory. When the blob already exists the
  // temporary file is removed and the call succeeds (identical content by name).
  proto::Result<void> publish(const std::filesystem::path& tmp_file, std::string_view sha256) const;

  // Removes a blob file; a missing file is not an error.
  proto::Result<void> remove(std::string_view sha256) const;

private:
  const CacheLayout& m_layout;
};

} // namespace timmd::store

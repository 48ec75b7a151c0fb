// An opened cache (layout, index, blob store) in a fresh temporary directory.
#pragma once

#include "daemon/store/blob_store.hpp"
#include "daemon/store/cache_layout.hpp"
#include "daemon/store/index.hpp"
#include "helpers.hpp"

#include <memory>

namespace timmd::testing {

struct OpenCache {
  explicit OpenCache(const std::filesystem::path& root)
    : layout(store::CacheLayout::open(root).value()),
      index(store::Index::open(layout.index_path()).value()), blobs(layout) {}

  // Closes and reopens the index, as a daemon restart does.
  void reopen_index() {
    index.reset();
    index = store::Index::open(layout.index_path()).value();
  }

  store::CacheLayout layout;
  std::unique_ptr<store::Index> index;
  store::BlobStore blobs;
};

} // namespace timmd::testing

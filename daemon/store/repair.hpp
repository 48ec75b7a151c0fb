// Startup repair: makes the index and the files agree before the daemon serves requests.
#pragma once

#include "daemon/store/blob_store.hpp"
#include "daemon/store/cache_layout.hpp"
#include "daemon/store/index.hpp"
#include "proto/error.hpp"

#include <chrono>
#include <cstddef>

namespace timmd::store {

struct RepairReport {
  std::size_t blob_rows_removed = 0;   // rows whose file was gone
  std::size_t blob_files_adopted = 0;  // files without a row whose content matched their name
  std::size_t blob_files_removed = 0;  // files without a row that did not match, or misnamed
  std::size_t partials_removed = 0;    // tmp files without a download row (older than grace)
  std::size_t download_rows_removed = 0; // download rows whose partial file was gone
};

// Runs every check and logs each fix at warn level with the blob or file involved. A blob file
// with no row is hashed: when it matches its name (a crash between rename and insert) it gets
// a row, otherwise it is removed. Temporary files younger than `grace` are left alone because a
// download may still own them.
proto::Result<RepairReport> repair_cache(Index& index, const CacheLayout& layout,
                                         const BlobStore& blobs, std::chrono::seconds grace);

} // namespace timmd::store

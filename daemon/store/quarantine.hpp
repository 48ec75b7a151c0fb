// Moving a damaged blob file out of the blob tree without destroying it, so that nothing serves
// it and an operator can still inspect the bytes.
#pragma once

#include "daemon/store/cache_layout.hpp"
#include "proto/error.hpp"

#include <chrono>
#include <filesystem>
#include <string_view>

namespace timmd::store {

// Renames `file` to CACHE/quarantine/<label>.<UTC time as YYYYMMDDTHHMMSSZ>, adding .2, .3, ...
// when that name is taken, and returns the new path. `label` is the blob's expected SHA-256
// (its file name), or "stray-<file name>" for a file whose name is no blob name. Creates the
// quarantine directory when missing and fsyncs it and the directory `file` left.
// REQUIRES: `file` is inside the cache, so the rename stays on one filesystem. A missing `file`
// is `not_found`; other failures are `internal` (or `disk_full`) naming the path.
proto::Result<std::filesystem::path> quarantine_file(const CacheLayout& layout,
                                                     const std::filesystem::path& file,
                                                     std::string_view label,
                                                     std::chrono::system_clock::time_point now);

} // namespace timmd::store

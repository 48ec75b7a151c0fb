// ETags from the Hub name file content: sha256 for LFS files, git blob sha1 for the rest.
#pragma once

#include "proto/error.hpp"

#include <string>
#include <string_view>

namespace timmd::hub {

// Strips a weak prefix (W/) and quotes, lower-cases, and accepts only 40 or 64 hex digits.
// Anything else is an `upstream_unavailable` error quoting the raw value: an etag becomes a
// file name in the cache, so it is never used unvalidated.
proto::Result<std::string> normalize_etag(std::string_view raw);

} // namespace timmd::hub

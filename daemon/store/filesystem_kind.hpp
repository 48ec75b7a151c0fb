// Tells network and user-space filesystems apart from local ones. The cache relies on two
// things such filesystems do not give reliably: flock(2) excluding a daemon on another host, and
// the shared memory of SQLite's WAL mode.
#pragma once

#include "proto/error.hpp"

#include <filesystem>
#include <optional>
#include <string_view>

namespace timmd::store {

// The name of the filesystem type statfs(2) reports as `magic` ("NFS", "CIFS", "FUSE", ...)
// when it is a network or FUSE filesystem; nullopt for a local one.
std::optional<std::string_view> network_filesystem_name(unsigned long magic);

// Fails with `invalid_request` naming the directory, its filesystem and the `allow_network_cache`
// setting when `dir` is on a network or FUSE filesystem; `internal` when statfs fails.
proto::Result<void> check_local_filesystem(const std::filesystem::path& dir);

} // namespace timmd::store

// Reloading the remap rule files, shared by SIGHUP and the `reload` request.
#pragma once

#include "daemon/server/config.hpp"
#include "daemon/server/open_service.hpp"
#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <string_view>

namespace timmd::server {

// Loads every file of config.remap_dir and puts the set in service, or, when any file is
// invalid, keeps the rules in service and returns that file's error (invalid_request naming
// the file, step and field). Logs the outcome with `trigger`. Returns {files: [{file, family,
// version}]}.
//
// Thread safety: I/O thread only (it replaces the OpenService's rules); rule files are small.
proto::Result<nlohmann::json> reload_remap_rules(const Config& config, OpenService& opens, std::string_view trigger);

} // namespace timmd::server

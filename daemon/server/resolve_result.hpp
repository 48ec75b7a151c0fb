// Fields of the `resolve` result (proto/PROTOCOL.md), each built from the source that
// provides it: the name resolution, a snapshot's file list, and the pretrained configuration.
#pragma once

#include "daemon/server/pull_target.hpp"
#include "daemon/store/index.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace timmd::server {

// Returns {name, repo, revision, resolved_by, notice, file, pretrained_cfg} for `target`, with
// the registry's pretrained_cfg (null when the registry does not list the repository), plus
// `suggestions` for an unverified tag.
nlohmann::json name_fields(const PullTarget& target);

// Sets `files` to [{path, size, etag}] of `files` and `weights_file` to the file a pull without
// `all` fetches (null when there is none). `preferred_file` is the registry's file, or empty.
void set_snapshot_files(nlohmann::json& result, const std::vector<store::FileRecord>& files,
                        const std::string& preferred_file);

// Replaces `pretrained_cfg` with `from_config_json` when given and sets
// `pretrained_cfg_source` to "config.json", else to "registry" when `result` has the
// registry's pretrained_cfg, else to null.
void set_pretrained_cfg(nlohmann::json& result, std::optional<nlohmann::json> from_config_json);

} // namespace timmd::server

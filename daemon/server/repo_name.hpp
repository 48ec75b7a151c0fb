// Repository names as users write them: `ORG/NAME`, `hf-hub:ORG/NAME`, optionally `@REVISION`.
#pragma once

#include "proto/error.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace timmd::server {

struct RepoName {
  std::string repo;     // ORG/NAME (or NAME for the few repositories without a namespace)
  std::string revision; // empty when none was given
};

// Parses a repository reference. Returns nullopt when `text` is not in repository form (a
// timm model name such as `resnet50`). A repository-form name with invalid characters, `--`,
// `..`, a `.git` suffix or more than 96 characters per part is an `invalid_request` error.
proto::Result<std::optional<RepoName>> parse_repo_name(std::string_view text);

// True for a Hub repository id: [A-Za-z0-9_.-]{1,96} with one optional namespace.
bool is_valid_repo_id(std::string_view repo);

// True for a revision that is safe to send: printable, no spaces, at most 256 bytes.
bool is_valid_revision(std::string_view revision);

} // namespace timmd::server

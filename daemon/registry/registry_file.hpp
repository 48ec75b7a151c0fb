// Reading one registry file and merging it into the data of the files before it.
#pragma once

#include "daemon/registry/registry.hpp"
#include "proto/error.hpp"

#include <filesystem>
#include <string_view>

namespace timmd::registry {

// Merges the registry file at `path` into `data`. Every top-level section is optional:
// - `architectures.<arch>`: a new architecture is added. For an existing one, `module` and
//   `default_tag` replace the old values when given. Each record in `tags` replaces the fields
//   it lists in the record with the same tag, or is appended as a new tag. Fields that a new
//   record leaves out get timm's PretrainedCfg defaults.
// - `deprecations.<old name>`: a target string (`arch.tag` or `arch`), or an object with
//   `target` (string, or null to withdraw the name), `notice`, `module` and `reason`. It
//   replaces an earlier entry of the same name, keeping only its module unless it names one.
// - `deprecation_modules.<old name>`: the module that declared the deprecation.
// - `source`, `counts`, `notes`, `description`: informational; only `source.version` and
//   `source.commit` are kept.
// Unknown fields are errors, so a misspelt override cannot be ignored silently.
// On error returns `invalid_request` with details {file, line, column, field}; `data` may then
// hold part of the file and must be discarded.
proto::Result<void> merge_registry_file(const std::filesystem::path& path, RegistryData& data);

// Same as merge_registry_file for a document already in memory; `source_name` names it in
// error messages.
proto::Result<void> merge_registry_text(std::string_view text, std::string_view source_name, RegistryData& data);

} // namespace timmd::registry

// Loading the model registry from the files the configuration names, shared by start-up,
// SIGHUP and the `reload` request.
#pragma once

#include "daemon/registry/reloadable_registry.hpp"
#include "daemon/server/config.hpp"
#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <string_view>
#include <vector>

namespace timmd::server {

// The registry a successful load put in service: its size and its files.
struct RegistrySummary {
  std::size_t architectures = 0;
  std::size_t tags = 0;
  std::vector<std::filesystem::path> files; // in load order

  // Returns {architectures, tags, files}, the result of a `reload` request.
  nlohmann::json to_json() const;
};

// Returns the bundled files of `config.registry_dir`, then `config.registry_files`, in load
// order.
std::vector<std::filesystem::path> configured_registry_files(const Config& config);

// Reloads `registry` from configured_registry_files(config) and logs the outcome with
// `trigger` (such as "SIGHUP"). On failure `registry` keeps serving its previous contents and
// the error is `invalid_request` naming the file, line, column and field.
//
// Thread safety: may run on any thread; it blocks while it parses the files (the bundled
// snapshot is about 2 MB of JSON).
proto::Result<RegistrySummary> reload_registry(const Config& config, registry::ReloadableRegistry& registry,
                                               std::string_view trigger);

} // namespace timmd::server

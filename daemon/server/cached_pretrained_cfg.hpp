// The `pretrained_cfg` of a repository's own config.json, read from the cache. timm writes it
// there with the weights, so once it is cached it describes them better than the registry.
#pragma once

#include "daemon/store/cache_layout.hpp"
#include "daemon/store/index.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace timmd::server {

// timm's config.json files are a few kilobytes; a larger one is not read.
inline constexpr std::uint64_t k_max_config_json_size = 1024 * 1024;

// Returns the `pretrained_cfg` object of config.json at (repo, commit), unchanged, when the
// index lists the file in that snapshot and its blob is cached (found through the file's
// blob, or else its etag). Returns nullopt when the snapshot, the file or the blob is not
// cached. Also returns nullopt, after a warning naming the blob, when the blob cannot be read,
// is larger than k_max_config_json_size, is not a JSON object, or has no `pretrained_cfg`
// object.
//
// Blocking: reads the index and up to k_max_config_json_size bytes; run it on the worker pool.
std::optional<nlohmann::json> read_cached_pretrained_cfg(store::Index& index, const store::CacheLayout& layout,
                                                         std::string_view repo, std::string_view commit);

// Reads the pretrained_cfg of a config.json blob that the caller has found and leased. `repo`
// and `commit` only name it in warnings. Blocking: reads up to k_max_config_json_size bytes.
std::optional<nlohmann::json> read_pretrained_cfg_blob(const store::CacheLayout& layout, const std::string& blob,
                                                       std::string_view repo, std::string_view commit);

} // namespace timmd::server

// Preparing what `open` serves: the remapped tensor table and the blob it points into, either
// the stored weights themselves (selection and renames only) or a derived safetensors blob
// materialised once and found again by its key.
#pragma once

#include "daemon/remap/filter_spec.hpp"
#include "daemon/remap/rule_file.hpp"
#include "daemon/store/blob_store.hpp"
#include "daemon/store/cache_layout.hpp"
#include "daemon/store/index.hpp"
#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace timmd::server {

// Bumped when the remapper's output for the same inputs changes, so that derived blobs made by
// an older daemon are not served.
inline constexpr int k_remap_engine_version = 1;

struct ServeInputs {
  std::string weights_file;      // path inside the repository, e.g. model.safetensors
  std::string weights_sha256;
  std::filesystem::path weights_blob;
  std::string config_sha256;     // empty when the repository has no cached config.json
  std::filesystem::path config_blob;
  nlohmann::json registry_cfg;   // the registry's pretrained_cfg, or null
  std::string fallback_architecture;
  remap::FilterSpec filter;
  std::shared_ptr<const remap::RuleSet> rules;
};

struct ServedCheckpoint {
  std::string sha256;            // the blob the descriptor reads
  std::filesystem::path path;
  std::uint64_t size = 0;
  bool derived = false;          // a materialised blob rather than the weights file
  bool derived_from_cache = false;
  std::string source_format;     // safetensors, torch_zip, ...
  std::string architecture;
  std::string family;            // the rule file's family, or "generic"
  std::string rules_version;     // SHA-256 of the rule file, empty for generic
  nlohmann::json tensors = nlohmann::json::array(); // [{name, dtype, shape, offset, length}]
  bool strict = true;
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
  std::vector<std::string> notes;
};

// The key of the derived blob these inputs produce: a SHA-256 over the engine version, the
// weights and config.json blobs, the registry's pretrained_cfg, the rule file's version and
// the canonical filter.
std::string derived_key(const ServeInputs& inputs);

// Runs the remap and, when it computed new bytes, finds or writes the derived blob: written in
// CACHE/tmp, hashed, published, then recorded in the index. Blocking; run on the worker pool.
// Fails as remap_state_dict does, with invalid_checkpoint for weights timmd cannot parse, and
// with disk_full when the derived blob does not fit.
proto::Result<ServedCheckpoint> prepare_served_checkpoint(const ServeInputs& inputs, const std::string& key,
                                                          store::Index& index, const store::CacheLayout& layout,
                                                          const store::BlobStore& blobs);

} // namespace timmd::server

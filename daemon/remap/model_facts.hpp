// Facts about the model a checkpoint belongs to, taken from the repository's config.json (timm
// writes it beside the weights) and, where that file is silent, from the registry.
#pragma once

#include "daemon/remap/filter_spec.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace timmd::remap {

struct ModelFacts {
  std::string architecture;                       // selects the rule file
  nlohmann::json model_args = nlohmann::json::object(); // constructor overrides (depth, no_embed_class, ...)
  std::vector<std::string> first_conv;            // module names; ".weight" is appended
  std::vector<std::string> classifier;
  std::optional<std::int64_t> num_classes;        // classes of the pretrained head
  std::optional<Size2> input_size;                // (H, W) the weights were trained at
  std::int64_t label_offset = 0;

  // Reads config.json (`architecture`, `num_classes`, `model_args`, `pretrained_cfg`), then
  // fills what it lacks from `registry_cfg` (a registry pretrained_cfg object, or null) and
  // `fallback_architecture` (the resolved name's architecture). Malformed fields are ignored
  // field by field: config.json comes from the Hub and a bad field must not hide the good ones.
  static ModelFacts from_config(const nlohmann::json& config_json, const nlohmann::json& registry_cfg,
                                const std::string& fallback_architecture);

  // True when model_args[name] is true.
  bool flag(const std::string& name) const;
};

} // namespace timmd::remap

#include "daemon/remap/model_facts.hpp"

namespace timmd::remap {
namespace {

using nlohmann::json;

// timm spells first_conv and classifier as a string or a list of strings.
std::vector<std::string> names(const json& value) {
  std::vector<std::string> out;
  if (value.is_string()) {
    out.push_back(value.get<std::string>());
  } else if (value.is_array()) {
    for (const auto& item : value) {
      if (item.is_string()) {
        out.push_back(item.get<std::string>());
      }
    }
  }
  return out;
}

bool is_extent(const json& value) {
  return value.is_number_integer() && value.get<std::int64_t>() > 0;
}

void fill_from_cfg(ModelFacts& facts, const json& cfg) {
  if (!cfg.is_object()) {
    return;
  }
  if (facts.first_conv.empty() && cfg.contains("first_conv")) {
    facts.first_conv = names(cfg["first_conv"]);
  }
  if (facts.classifier.empty() && cfg.contains("classifier")) {
    facts.classifier = names(cfg["classifier"]);
  }
  if (!facts.num_classes && cfg.contains("num_classes") && cfg["num_classes"].is_number_integer()) {
    facts.num_classes = cfg["num_classes"].get<std::int64_t>();
  }
  if (!facts.input_size && cfg.contains("input_size") && cfg["input_size"].is_array() &&
      cfg["input_size"].size() == 3 && is_extent(cfg["input_size"][1]) && is_extent(cfg["input_size"][2])) {
    facts.input_size = Size2{cfg["input_size"][1].get<std::uint64_t>(), cfg["input_size"][2].get<std::uint64_t>()};
  }
  if (facts.label_offset == 0 && cfg.contains("label_offset") && cfg["label_offset"].is_number_integer()) {
    facts.label_offset = cfg["label_offset"].get<std::int64_t>();
  }
}

} // namespace

ModelFacts ModelFacts::from_config(const json& config_json, const json& registry_cfg,
                                   const std::string& fallback_architecture) {
  ModelFacts facts;
  if (config_json.is_object()) {
    if (config_json.contains("architecture") && config_json["architecture"].is_string()) {
      facts.architecture = config_json["architecture"].get<std::string>();
    }
    if (config_json.contains("model_args") && config_json["model_args"].is_object()) {
      facts.model_args = config_json["model_args"];
    }
    // The head timm builds from config.json has the top-level num_classes.
    if (config_json.contains("num_classes") && config_json["num_classes"].is_number_integer()) {
      facts.num_classes = config_json["num_classes"].get<std::int64_t>();
    }
    if (config_json.contains("pretrained_cfg")) {
      fill_from_cfg(facts, config_json["pretrained_cfg"]);
    }
  }
  fill_from_cfg(facts, registry_cfg);
  if (facts.architecture.empty()) {
    facts.architecture = fallback_architecture;
  }
  return facts;
}

bool ModelFacts::flag(const std::string& name) const {
  return model_args.contains(name) && model_args[name].is_boolean() && model_args[name].get<bool>();
}

} // namespace timmd::remap

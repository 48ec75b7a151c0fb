#include "daemon/registry/resolution.hpp"

namespace timmd::registry {
namespace {

nlohmann::json optional_to_json(const std::optional<std::string>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

} // namespace

std::string_view to_string(ResolvedBy resolved_by) {
  switch (resolved_by) {
  case ResolvedBy::hub_repository:
    return "hub_repository";
  case ResolvedBy::deprecated_alias:
    return "deprecated_alias";
  case ResolvedBy::direct:
    return "direct";
  case ResolvedBy::default_tag:
    return "default_tag";
  case ResolvedBy::user_alias:
    return "user_alias";
  case ResolvedBy::unverified_tag:
    return "unverified_tag";
  }
  return "direct";
}

nlohmann::json Resolution::to_json() const {
  nlohmann::json result = {
      {"name", name},
      {"repo", repo},
      {"revision", optional_to_json(revision)},
      {"resolved_by", to_string(resolved_by)},
      {"notice", optional_to_json(notice)},
      {"file", optional_to_json(file)},
      {"pretrained_cfg", pretrained_cfg ? pretrained_cfg->to_json() : nlohmann::json(nullptr)},
  };
  if (!suggestions.empty()) {
    result["suggestions"] = suggestions;
  }
  return result;
}

std::ostream& operator<<(std::ostream& os, const Resolution& resolution) {
  return os << resolution.to_json().dump();
}

} // namespace timmd::registry

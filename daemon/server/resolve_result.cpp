#include "daemon/server/resolve_result.hpp"

#include "daemon/server/pull_selection.hpp"

namespace timmd::server {

using nlohmann::json;

json name_fields(const PullTarget& target) {
  if (target.resolution) {
    return target.resolution->to_json();
  }
  json fields = {{"name", target.repo}, {"repo", target.repo}, {"resolved_by", "hub_repository"},
                 {"notice", nullptr},   {"file", nullptr},     {"pretrained_cfg", nullptr}};
  fields["revision"] = target.revision.empty() ? json(nullptr) : json(target.revision);
  return fields;
}

void set_snapshot_files(json& result, const std::vector<store::FileRecord>& files, const std::string& preferred_file) {
  json listed = json::array();
  std::vector<std::string> paths;
  for (const auto& file : files) {
    listed.push_back({{"path", file.path}, {"size", file.size}, {"etag", file.etag}});
    paths.push_back(file.path);
  }
  const auto selection = select_pull_files(paths, false, preferred_file);
  result["files"] = std::move(listed);
  result["weights_file"] = selection.weights_file.empty() ? json(nullptr) : json(selection.weights_file);
}

void set_pretrained_cfg(json& result, std::optional<json> from_config_json) {
  if (from_config_json) {
    result["pretrained_cfg"] = std::move(*from_config_json);
    result["pretrained_cfg_source"] = "config.json";
    return;
  }
  const bool from_registry = result.contains("pretrained_cfg") && result["pretrained_cfg"].is_object();
  result["pretrained_cfg_source"] = from_registry ? json("registry") : json(nullptr);
}

} // namespace timmd::server

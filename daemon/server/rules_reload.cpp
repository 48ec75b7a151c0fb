#include "daemon/server/rules_reload.hpp"

#include <spdlog/spdlog.h>

namespace timmd::server {

proto::Result<nlohmann::json> reload_remap_rules(const Config& config, OpenService& opens, std::string_view trigger) {
  auto loaded = remap::RuleSet::load(config.remap_dir);
  if (!loaded) {
    spdlog::error("remap rule reload ({}) rejected, the previous rules stay in service: {}", trigger,
                  loaded.error().message);
    return loaded.error();
  }
  nlohmann::json files = nlohmann::json::array();
  for (const auto& file : loaded->files()) {
    files.push_back({{"file", file.file}, {"family", file.family}, {"version", file.version}});
  }
  spdlog::info("remap rules reloaded ({}): {} files from {}", trigger, loaded->files().size(),
               config.remap_dir.string());
  opens.set_rules(std::make_shared<const remap::RuleSet>(std::move(*loaded)));
  nlohmann::json answer = nlohmann::json::object();
  answer["files"] = std::move(files);
  return proto::Result<nlohmann::json>(boost::system::in_place_value, std::move(answer));
}

} // namespace timmd::server

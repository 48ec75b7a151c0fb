#include "daemon/server/registry_reload.hpp"

#include <spdlog/spdlog.h>

namespace timmd::server {

nlohmann::json RegistrySummary::to_json() const {
  nlohmann::json paths = nlohmann::json::array();
  for (const auto& file : files) {
    paths.push_back(file.string());
  }
  return {{"architectures", architectures}, {"tags", tags}, {"files", std::move(paths)}};
}

std::vector<std::filesystem::path> configured_registry_files(const Config& config) {
  auto files = registry::bundled_registry_files(config.registry_dir);
  files.insert(files.end(), config.registry_files.begin(), config.registry_files.end());
  return files;
}

proto::Result<RegistrySummary> reload_registry(const Config& config, registry::ReloadableRegistry& registry,
                                               std::string_view trigger) {
  const auto files = configured_registry_files(config);
  auto reloaded = registry.reload(files);
  if (!reloaded) {
    spdlog::error("{}: registry reload failed, keeping the previous registry: {}", trigger, reloaded.error().message);
    auto error = reloaded.error();
    error.message = "the registry was not reloaded and the previous one stays in use: " + error.message +
                    "; fix the file and reload again";
    return error;
  }

  // current() may already be a later reload's registry; the summary describes what is served.
  const auto current = registry.current();
  RegistrySummary summary{current->architectures().size(), current->tag_count(), current->files()};
  spdlog::info("{}: registry reloaded: {} architectures, {} pretrained tags from {} files", trigger,
               summary.architectures, summary.tags, summary.files.size());
  return summary;
}

} // namespace timmd::server

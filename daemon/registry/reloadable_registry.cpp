#include "daemon/registry/reloadable_registry.hpp"

#include <spdlog/spdlog.h>

namespace timmd::registry {

ReloadableRegistry::ReloadableRegistry(std::shared_ptr<const Registry> initial) : m_current(std::move(initial)) {}

std::shared_ptr<const Registry> ReloadableRegistry::current() const {
  const std::lock_guard lock(m_mutex);
  return m_current;
}

proto::Result<void> ReloadableRegistry::reload(const std::vector<std::filesystem::path>& files) {
  auto loaded = Registry::load(files);
  if (!loaded) {
    spdlog::error("registry: reload rejected, still serving the previous registry: {}", loaded.error().message);
    return loaded.error();
  }

  const std::lock_guard lock(m_mutex);
  m_current = std::move(*loaded);
  return {};
}

} // namespace timmd::registry

// The registry a running daemon serves from, replaced as a whole on reload.
#pragma once

#include "daemon/registry/registry.hpp"
#include "proto/error.hpp"

#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

namespace timmd::registry {

// Thread-safe. A reader takes current() once per request and keeps that snapshot alive for as
// long as it uses it, so a reload never changes a registry under a request.
class ReloadableRegistry {
public:
  // REQUIRES: `initial` is not null.
  explicit ReloadableRegistry(std::shared_ptr<const Registry> initial);

  std::shared_ptr<const Registry> current() const;

  // Loads `files` and, on success, serves the new registry from then on. On failure keeps
  // serving the current one and returns the load error (which names file, line and field).
  proto::Result<void> reload(const std::vector<std::filesystem::path>& files);

private:
  mutable std::mutex m_mutex;
  std::shared_ptr<const Registry> m_current;
};

} // namespace timmd::registry

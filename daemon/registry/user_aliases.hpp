// Model-name aliases from the daemon configuration (`"aliases": {"mybackbone": "convnext_tiny"}`).
#pragma once

#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <string_view>

namespace timmd::registry {

// The resolver tries aliases after every registry path, so an alias never hides a timm name.
// An alias target is resolved like a client's name but without aliases, so aliases never chain
// or loop.
class UserAliases {
public:
  UserAliases() = default;

  // Builds aliases from a JSON object of alias -> target. Errors are `invalid_request` naming
  // the alias: a value that is not a string, or an alias or target rejected by add().
  static proto::Result<UserAliases> from_json(const nlohmann::json& aliases);

  // Adds `alias` for `target`, replacing an earlier alias of the same name. The alias is
  // normalised like a model name (trimmed, lower case). It may contain only a-z, 0-9, '_', '-'
  // and '.', so it can never be read as a Hub repository. The target must parse as a model name.
  proto::Result<void> add(std::string_view alias, std::string_view target);

  // Returns the target of a normalised alias, or nullptr.
  const std::string* find(std::string_view alias) const;

  const std::map<std::string, std::string, std::less<>>& entries() const { return m_entries; }
  bool empty() const { return m_entries.empty(); }

private:
  std::map<std::string, std::string, std::less<>> m_entries;
};

} // namespace timmd::registry

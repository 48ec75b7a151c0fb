// The result of a resolve request: the Hub repository a model name refers to, and the path the
// resolver took to it.
#pragma once

#include "daemon/registry/pretrained_cfg.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace timmd::registry {

enum class ResolvedBy {
  hub_repository,   // the name was a repository id
  deprecated_alias, // a deprecated timm name, mapped to its current name
  direct,           // `arch.tag` found in the registry
  default_tag,      // `arch`, completed with its default pretrained tag
  user_alias,       // an alias from the configuration
  unverified_tag,   // a known architecture with a tag the registry does not list
};

// Wire name of a ResolvedBy value, e.g. "deprecated_alias". Clients match on these names.
std::string_view to_string(ResolvedBy resolved_by);

struct Resolution {
  // Canonical `arch.tag` (`arch` for a bare entry); `hf-hub:ORG/REPO` for a repository the
  // registry does not list.
  std::string name;
  std::string repo; // Hub repository id, ORG/REPO
  std::optional<std::string> revision;
  ResolvedBy resolved_by = ResolvedBy::direct;
  // Text for the user: a deprecation, a case change, a correction, or that the repository is
  // still to be confirmed on the Hub.
  std::optional<std::string> notice;
  std::optional<std::string> file; // weights file the registry names inside the repository
  // Absent for repositories the registry does not list and for unverified tags: then the
  // repository's own config.json is the only source.
  std::optional<PretrainedCfg> pretrained_cfg;
  // For unverified tags: the known tags of the architecture closest to the one requested, to
  // offer when the Hub does not have the repository.
  std::vector<std::string> suggestions;

  // True when the repository id is a guess that a Hub request must confirm.
  bool needs_hub_confirmation() const { return resolved_by == ResolvedBy::unverified_tag; }

  // Returns {name, repo, revision, resolved_by, notice, file, pretrained_cfg}, with null for
  // absent values, plus `suggestions` when there are any.
  nlohmann::json to_json() const;
};

// Prints to_json(); lets test frameworks and logs show a Resolution.
std::ostream& operator<<(std::ostream& os, const Resolution& resolution);

} // namespace timmd::registry

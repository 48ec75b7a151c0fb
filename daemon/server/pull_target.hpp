// Turns the name a client gives into the repository and revision to pull: repository ids as
// they are, timm model names through the registry.
#pragma once

#include "daemon/registry/registry.hpp"
#include "daemon/registry/resolution.hpp"
#include "daemon/registry/user_aliases.hpp"
#include "proto/error.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace timmd::server {

struct PullTarget {
  std::string repo;
  std::string revision; // empty when the name gave none
  std::optional<registry::Resolution> resolution; // set when the registry resolved the name
};

// `ORG/NAME[@REV]` and `hf-hub:ORG/NAME[@REV]` name a repository directly; anything else is
// resolved by the registry (deprecated names, `arch.tag`, `arch`, user aliases). Offline, a tag
// the registry does not list is `not_found` because no Hub request can confirm it.
proto::Result<PullTarget> resolve_pull_target(std::string_view name, const registry::Registry& registry,
                                              const registry::UserAliases& aliases, bool offline);

// The error for a name whose tag the registry does not list when the Hub has no such
// repository either: `not_found` with the registry's suggestions.
proto::Error unverified_tag_not_found(const registry::Resolution& resolution, const proto::Error& hub_error);

} // namespace timmd::server

#include "daemon/server/pull_target.hpp"

#include "daemon/registry/resolver.hpp"
#include "daemon/server/repo_name.hpp"

namespace timmd::server {

proto::Result<PullTarget> resolve_pull_target(std::string_view name, const registry::Registry& registry,
                                              const registry::UserAliases& aliases, bool offline) {
  auto parsed = parse_repo_name(name);
  if (!parsed) {
    return parsed.error();
  }
  if (*parsed) {
    return PullTarget{(*parsed)->repo, (*parsed)->revision, std::nullopt};
  }

  registry::ResolveOptions options;
  options.allow_unverified_tags = !offline;
  auto resolved = registry::resolve(registry, name, aliases, options);
  if (!resolved) {
    return resolved.error();
  }
  PullTarget target{resolved->repo, resolved->revision.value_or(""), *resolved};
  return target;
}

proto::Error unverified_tag_not_found(const registry::Resolution& resolution, const proto::Error& hub_error) {
  std::string message = "'" + resolution.name + "' is not in the model registry, and the Hub has no repository '" +
                        resolution.repo + "'";
  if (!resolution.suggestions.empty()) {
    message += "; known names:";
    for (const auto& suggestion : resolution.suggestions) {
      message += " " + suggestion;
    }
  }
  auto details = hub_error.details;
  details["name"] = resolution.name;
  details["suggestions"] = resolution.suggestions;
  return proto::make_error(proto::Errc::not_found, message, details);
}

} // namespace timmd::server

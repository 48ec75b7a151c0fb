// Resolution of a model name to a Hub repository, in this order (first match wins):
//   1. `hf-hub:ORG/REPO[@REV]` or `ORG/REPO[@REV]`: that repository;
//   2. a deprecated name: its current name, with a deprecation notice; a target that is a bare
//      architecture continues to that architecture's default tag;
//   3. `arch.tag`: the record's hf_hub_id (usually `timm/arch.tag`);
//   4. `arch`: the record of the architecture's default tag (timm's rule, which is not always
//      the first tag listed);
//   5. a user alias: its target, resolved by steps 1-4 and 6;
//   6. a known architecture with a tag the registry does not list: `timm/arch.tag`, marked
//      unverified, because a newer timm may have published it.
// Names are normalised first (see model_name.hpp). Any registry name may carry `@REVISION`.
#pragma once

#include "daemon/registry/registry.hpp"
#include "daemon/registry/resolution.hpp"
#include "daemon/registry/user_aliases.hpp"
#include "proto/error.hpp"

#include <string_view>

namespace timmd::registry {

struct ResolveOptions {
  // When false, step 6 is skipped and such names are `not_found`, e.g. in offline mode where no
  // Hub request can confirm the guess.
  bool allow_unverified_tags = true;
};

// Resolves `name`. Errors:
// - `invalid_request`: the name is malformed (see parse_model_name);
// - `not_found`: no step matched, the record has no weights, its weights are only at a direct
//   URL, or an override withdrew the name. The message names the value and what to use instead.
//   `details` contains {"name", "suggestions": [...]} with up to five known names, and "url" for
//   weights outside the Hub.
// Thread-safe: it only reads `registry` and `aliases`.
proto::Result<Resolution> resolve(const Registry& registry, std::string_view name, const UserAliases& aliases,
                                  const ResolveOptions& options = {});

} // namespace timmd::registry

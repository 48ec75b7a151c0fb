// Suggestions for names the resolver does not know: the closest known names by edit distance
// and shared prefix.
#pragma once

#include "daemon/registry/registry.hpp"
#include "daemon/registry/user_aliases.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace timmd::registry {

inline constexpr std::size_t k_max_suggestions = 5;

// Returns up to k_max_suggestions names close to the normalised registry name `name`, best
// first, without duplicates. Candidates are architectures, deprecated names (suggested as their
// current name) and user aliases. A candidate qualifies when its edit distance is at most
// max(2, length / 4), or when it shares a prefix of at least 4 characters and two thirds of the
// shorter name. For `arch.tag` only the architecture part is compared, and a suggested
// architecture keeps the tag when it has weights under that tag. May return nothing.
std::vector<std::string> suggest_names(const Registry& registry, const UserAliases& aliases, std::string_view name);

// Returns up to k_max_suggestions `arch.tag` names of `arch` that have weights, the closest to
// `tag` first. Returns fewer only when the architecture has fewer such tags.
std::vector<std::string> suggest_tags(const Architecture& arch, std::string_view tag);

} // namespace timmd::registry

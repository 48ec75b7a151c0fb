// Parsing of the model names a client sends: a Hub repository (`hf-hub:ORG/REPO[@REVISION]` or
// `ORG/REPO[@REVISION]`) or a timm registry name (`arch`, `arch.tag`, a deprecated name or a
// user alias, each with an optional `@REVISION`).
//
// Normalisation: leading and trailing ASCII whitespace is removed, because names are often
// pasted from documents and shells. Registry names are folded to lower case. Every timm name
// is lower case (Registry::load rejects any other), so folding never changes which entry a name
// means. The resolver adds a notice, because timm.create_model itself is case sensitive.
// Repository ids and revisions keep their case, because Git revisions are case sensitive.
// Whitespace or control characters inside a name are rejected.
#pragma once

#include "proto/error.hpp"

#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace timmd::registry {

enum class NameKind {
  hub_repository, // `hf-hub:ORG/REPO` or `ORG/REPO`
  registry,       // anything else: looked up in the registry and the user aliases
};

// A syntactically valid model name, which may or may not exist.
struct ModelName {
  NameKind kind = NameKind::registry;
  // Registry names: normalised `arch` or `arch.tag`. Hub names: `ORG/REPO` as written.
  std::string name;
  std::optional<std::string> revision;
  // True when the registry name was written with upper-case letters.
  bool case_folded = false;

  // The text before the first '.' of a registry name (timm splits there too).
  std::string_view arch() const;
  // The text after the first '.', or nullopt when there is no '.'.
  std::optional<std::string_view> tag() const;
};

// Prints the name as it would be written (`hf-hub:` for repositories, `@REVISION` if any).
std::ostream& operator<<(std::ostream& os, const ModelName& name);

// Parses `text`. Errors are `invalid_request`: an empty name, whitespace or a control
// character inside the name, a scheme other than `hf-hub:`, a malformed repository id, or an
// empty revision after '@'.
proto::Result<ModelName> parse_model_name(std::string_view text);

// Checks a Hub repository id (`ORG/REPO`) against the Hub's naming rules: two parts of 1 to 96
// characters from [A-Za-z0-9._-], neither starting nor ending with '-' or '.', without "--" or
// "..". Returns an empty string when valid, else the reason it is not.
std::string check_repo_id(std::string_view repo);

// True for names made only of [a-z0-9_], the characters of timm's architecture names and tags.
bool is_timm_identifier(std::string_view text);

} // namespace timmd::registry

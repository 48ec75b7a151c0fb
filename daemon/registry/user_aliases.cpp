#include "daemon/registry/user_aliases.hpp"

#include "daemon/registry/model_name.hpp"

#include <algorithm>

namespace timmd::registry {

proto::Result<UserAliases> UserAliases::from_json(const nlohmann::json& aliases) {
  if (!aliases.is_object()) {
    return proto::make_error(proto::Errc::invalid_request, "aliases must be an object of alias -> model name, found " +
                                                               std::string(aliases.type_name()));
  }
  UserAliases result;
  for (const auto& [alias, target] : aliases.items()) {
    if (!target.is_string()) {
      return proto::make_error(proto::Errc::invalid_request,
                               "alias '" + alias + "' must map to a model name string, found " +
                                   std::string(target.type_name()),
                               {{"alias", alias}});
    }
    if (auto added = result.add(alias, target.get_ref<const std::string&>()); !added) {
      return added.error();
    }
  }
  return result;
}

proto::Result<void> UserAliases::add(std::string_view alias, std::string_view target) {
  auto name = parse_model_name(alias);
  const bool valid = name && name->kind == NameKind::registry && !name->revision &&
                     std::all_of(name->name.begin(), name->name.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
                     });
  if (!valid) {
    return proto::make_error(proto::Errc::invalid_request,
                             "alias '" + std::string(alias) +
                                 "' is invalid: use only letters, digits, '_', '-' and '.', with no '/', ':' or '@'",
                             {{"alias", std::string(alias)}});
  }
  if (auto parsed_target = parse_model_name(target); !parsed_target) {
    return proto::make_error(proto::Errc::invalid_request,
                             "alias '" + std::string(alias) +
                                 "' has an invalid target: " + parsed_target.error().message,
                             {{"alias", std::string(alias)}, {"target", std::string(target)}});
  }
  m_entries.insert_or_assign(std::move(name->name), std::string(target));
  return {};
}

const std::string* UserAliases::find(std::string_view alias) const {
  const auto it = m_entries.find(alias);
  return it == m_entries.end() ? nullptr : &it->second;
}

} // namespace timmd::registry

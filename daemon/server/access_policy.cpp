#include "daemon/server/access_policy.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

namespace timmd::server {
namespace {

using nlohmann::json;

// getpw*_r and getgr*_r need a caller buffer; entries with many members can be large.
constexpr std::size_t k_nss_buffer = 64 * 1024;
constexpr int k_max_groups = 256;

std::optional<unsigned> parse_id(std::string_view text) {
  unsigned id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  return ec == std::errc() && end == text.data() + text.size() ? std::optional(id) : std::nullopt;
}

std::optional<uid_t> user_id(const std::string& name) {
  std::vector<char> buffer(k_nss_buffer);
  passwd entry{};
  passwd* found = nullptr;
  if (getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return found->pw_uid;
}

std::optional<gid_t> group_id(const std::string& name) {
  std::vector<char> buffer(k_nss_buffer);
  group entry{};
  group* found = nullptr;
  if (getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return found->gr_gid;
}

} // namespace

std::string_view to_string(Access access) {
  switch (access) {
  case Access::read:
    return "read";
  case Access::download:
    return "download";
  case Access::admin:
    return "admin";
  }
  return "admin";
}

ClientIdentity ClientIdentity::of(uid_t uid, gid_t gid) {
  ClientIdentity identity{uid, gid, {}};
  std::vector<char> buffer(k_nss_buffer);
  passwd entry{};
  passwd* found = nullptr;
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return identity;
  }
  std::vector<gid_t> groups(k_max_groups);
  int count = k_max_groups;
  if (getgrouplist(found->pw_name, found->pw_gid, groups.data(), &count) >= 0) {
    groups.resize(static_cast<std::size_t>(count));
    identity.groups = std::move(groups);
  }
  return identity;
}

proto::Result<AccessPolicy::Level> AccessPolicy::parse_level(const json& list, const std::string& level) {
  Level parsed;
  if (!list.is_array()) {
    return proto::make_error(proto::Errc::invalid_request,
                             "access." + level + " must be a list such as [\"*\"] or [\"uid:0\", \"group:ml\"]",
                             {{"field", "access." + level}});
  }
  for (const auto& item : list) {
    const auto text = item.is_string() ? item.get<std::string>() : item.dump();
    const auto colon = text.find(':');
    const auto kind = colon == std::string::npos ? text : text.substr(0, colon);
    const auto value = colon == std::string::npos ? std::string() : text.substr(colon + 1);
    Principal principal;
    if (text == "*") {
      principal.kind = Principal::Kind::anyone;
    } else if ((kind == "uid" || kind == "gid") && parse_id(value)) {
      principal.kind = kind == "uid" ? Principal::Kind::uid : Principal::Kind::gid;
      principal.id = *parse_id(value);
    } else if ((kind == "user" || kind == "group") && !value.empty()) {
      principal.kind = kind == "user" ? Principal::Kind::uid : Principal::Kind::gid;
      const auto id = kind == "user" ? user_id(value).transform([](uid_t u) { return static_cast<unsigned>(u); })
                                     : group_id(value).transform([](gid_t g) { return static_cast<unsigned>(g); });
      principal.resolved = id.has_value();
      principal.id = id.value_or(0);
      if (!id) {
        spdlog::warn("access.{}: {} '{}' does not exist on this system; the entry matches nobody until it is "
                     "created and the daemon restarted",
                     level, kind, value);
      }
    } else {
      return proto::make_error(proto::Errc::invalid_request,
                               "access." + level + " entry " + (item.is_string() ? "'" + text + "'" : text) +
                                   " is not \"*\", \"uid:N\", \"user:NAME\", \"gid:N\" or \"group:NAME\"",
                               {{"field", "access." + level}, {"entry", text}});
    }
    parsed.text.push_back(text);
    parsed.principals.push_back(principal);
  }
  return parsed;
}

proto::Result<AccessPolicy> AccessPolicy::from_json(const json& access) {
  AccessPolicy policy;
  const json defaults = {{"read", {"*"}}, {"download", {"*"}}, {"admin", {"uid:0", "user:timmd"}}};
  if (!access.is_null() && !access.is_object()) {
    return proto::make_error(proto::Errc::invalid_request, "'access' must be an object with read, download and admin",
                             {{"field", "access"}});
  }
  if (access.is_object()) {
    for (const auto& [key, unused] : access.items()) {
      if (key != "read" && key != "download" && key != "admin") {
        return proto::make_error(proto::Errc::invalid_request,
                                 "access." + key + " is not a level; the levels are read, download and admin",
                                 {{"field", "access." + key}});
      }
    }
  }
  for (const auto level : {Access::read, Access::download, Access::admin}) {
    const std::string name(to_string(level));
    const auto& list = access.is_object() && access.contains(name) ? access[name] : defaults[name];
    auto parsed = parse_level(list, name);
    if (!parsed) {
      return parsed.error();
    }
    policy.m_levels[static_cast<std::size_t>(level)] = std::move(*parsed);
  }
  return policy;
}

bool AccessPolicy::allows(Access access, const ClientIdentity& client) const {
  // The user the daemon runs as owns its cache (a per-user daemon's owner, or timmd), so it
  // may do everything, whatever the lists contain.
  if (client.uid == ::geteuid()) {
    return true;
  }
  const auto& level = m_levels[static_cast<std::size_t>(access)];
  return std::any_of(level.principals.begin(), level.principals.end(), [&](const Principal& p) {
    switch (p.kind) {
    case Principal::Kind::anyone:
      return true;
    case Principal::Kind::uid:
      return p.resolved && client.uid == p.id;
    case Principal::Kind::gid:
      return p.resolved && (client.gid == p.id ||
                            std::find(client.groups.begin(), client.groups.end(), p.id) != client.groups.end());
    }
    return false;
  });
}

const std::vector<std::string>& AccessPolicy::principals(Access access) const {
  return m_levels[static_cast<std::size_t>(access)].text;
}

proto::Error AccessPolicy::denied(Access access, const std::string& op, const ClientIdentity& client) const {
  std::string who;
  for (const auto& principal : principals(access)) {
    who += (who.empty() ? "" : ", ") + principal;
  }
  return proto::make_error(proto::Errc::permission_denied,
                           "uid " + std::to_string(client.uid) + " may not " + op + ": that needs the '" +
                               std::string(to_string(access)) + "' access, which the configuration gives to " +
                               (who.empty() ? std::string("nobody") : who) +
                               "; ask the administrator to add you to access." + std::string(to_string(access)),
                           {{"op", op}, {"access", std::string(to_string(access))}, {"uid", client.uid}});
}

} // namespace timmd::server

// Access control over the socket, decided from the client's credentials (SO_PEERCRED).
//
// Three levels: `read` (hello, status, resolve, list, open of what is cached, release),
// `download` (pull, and open of something not cached), `admin` (gc, verify, remove, pin, unpin,
// reload). Each level lists principals: "*", "uid:N", "user:NAME", "gid:N" or "group:NAME"; a
// group matches the client's primary group and its supplementary groups. The defaults let everyone read and
// download, and root and the `timmd` user administer. The user the daemon runs as may always
// do everything: it owns the cache.
#pragma once

#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <vector>

#include <sys/types.h>

namespace timmd::server {

// Values index AccessPolicy's levels, so they stay 0, 1, 2.
enum class Access { read = 0, download = 1, admin = 2 };

std::string_view to_string(Access access);

// A client as the kernel reports it, with the groups of its uid looked up once.
struct ClientIdentity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups; // supplementary groups of the uid's account, when it has one

  // Looks up the supplementary groups of `uid` (blocking NSS call; done once per connection).
  static ClientIdentity of(uid_t uid, gid_t gid);
};

class AccessPolicy {
public:
  // Parses the configuration's `access` object ({"read": [...], "download": [...], "admin":
  // [...]}); a missing level keeps its default. A malformed principal is invalid_request
  // naming it. A user or group name the system does not know never matches (it is logged at
  // start, because a package may name the `timmd` user before it exists).
  static proto::Result<AccessPolicy> from_json(const nlohmann::json& access);

  bool allows(Access access, const ClientIdentity& client) const;

  // Builds the permission_denied error for `op`, naming the level and the principals given it.
  proto::Error denied(Access access, const std::string& op, const ClientIdentity& client) const;

  // The principals of a level, as configured.
  const std::vector<std::string>& principals(Access access) const;

private:
  struct Principal {
    enum class Kind { anyone, uid, gid } kind = Kind::anyone;
    unsigned id = 0;
    bool resolved = true; // false for a name the system does not know
  };
  struct Level {
    std::vector<std::string> text;
    std::vector<Principal> principals;
  };
  static proto::Result<Level> parse_level(const nlohmann::json& list, const std::string& level);

  std::array<Level, 3> m_levels; // indexed by Access
};

} // namespace timmd::server

#include "daemon/server/access_policy.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

using nlohmann::json;
using timmd::server::Access;
using timmd::server::AccessPolicy;
using timmd::server::ClientIdentity;

TEST_CASE("default access lets everyone read and download and root administer") {
  auto policy = AccessPolicy::from_json(nullptr);
  REQUIRE(policy.has_value());
  const ClientIdentity user{1000, 1000, {}};
  const ClientIdentity root{0, 0, {}};
  CHECK(policy->allows(Access::read, user));
  CHECK(policy->allows(Access::download, user));
  CHECK_FALSE(policy->allows(Access::admin, user));
  CHECK(policy->allows(Access::admin, root));
}

TEST_CASE("access by uid and by primary or supplementary group") {
  auto policy = AccessPolicy::from_json({{"read", {"*"}}, {"download", {"gid:50", "uid:7"}}, {"admin", json::array()}});
  REQUIRE(policy.has_value());
  CHECK(policy->allows(Access::download, {7, 1, {}}));
  CHECK(policy->allows(Access::download, {8, 50, {}}));
  CHECK(policy->allows(Access::download, {8, 1, {3, 50}}));
  CHECK_FALSE(policy->allows(Access::download, {8, 1, {3}}));
  CHECK_FALSE(policy->allows(Access::admin, {9, 9, {}}));

  const auto error = policy->denied(Access::admin, "gc", {8, 1, {}});
  CHECK(error.code == timmd::proto::Errc::permission_denied);
  CHECK(error.message.find("uid 8 may not gc") != std::string::npos);
  CHECK(error.message.find("nobody") != std::string::npos);
}

TEST_CASE("the user the daemon runs as may do everything") {
  auto policy = AccessPolicy::from_json({{"read", json::array()}, {"download", json::array()}, {"admin", json::array()}});
  REQUIRE(policy.has_value());
  const ClientIdentity owner{::geteuid(), ::getegid(), {}};
  CHECK(policy->allows(Access::admin, owner));
  CHECK(policy->allows(Access::download, owner));
}

TEST_CASE("names the system does not know match nobody; malformed entries are errors") {
  auto policy = AccessPolicy::from_json({{"admin", {"user:no-such-user-timmd-test", "group:no-such-group-timmd-test"}}});
  REQUIRE(policy.has_value());
  CHECK_FALSE(policy->allows(Access::admin, {9, 9, {9}}));

  for (const json& bad : {json{{"admin", {"uid:x"}}}, json{{"admin", {"root"}}}, json{{"admin", "uid:0"}},
                          json{{"writers", {"*"}}}, json{{"read", {7}}}}) {
    CAPTURE(bad.dump());
    auto parsed = AccessPolicy::from_json(bad);
    REQUIRE_FALSE(parsed.has_value());
    CHECK(parsed.error().code == timmd::proto::Errc::invalid_request);
  }
}

// Access control as the Hub enforces it: private, gated, disabled repositories and bad tokens.
#include "tests/hubserver/test_support.hpp"

#include <doctest/doctest.h>

using namespace timmd::testhub::testing;

TEST_CASE("private repository needs the token") {
  HubFixture hub;
  for (const auto* path : {"/org/private/resolve/main/config.json", "/api/models/org/private"}) {
    CAPTURE(path);
    const auto anonymous = fetch("GET", hub.url(path));
    CHECK(anonymous.status == 401);
    CHECK(anonymous.header("X-Error-Code") == "RepoNotFound");
    CHECK(anonymous.body.find("\"error\"") != std::string::npos);
  }
  const auto info = fetch("GET", hub.url("/api/models/org/private"), {.headers = {hub.auth_header()}});
  CHECK(info.status == 200);
  CHECK(info.body.find("\"private\":true") != std::string::npos);
}

TEST_CASE("gated repository needs the token for files only") {
  HubFixture hub;
  const auto anonymous = fetch("HEAD", hub.url("/org/gated/resolve/main/config.json"));
  CHECK(anonymous.status == 401);
  CHECK(anonymous.header("X-Error-Code") == "GatedRepo");
  CHECK(anonymous.header("X-Error-Message").find("org/gated") != std::string::npos);

  const auto with_token =
      fetch("GET", hub.url("/org/gated/resolve/main/config.json"), {.headers = {hub.auth_header()}});
  CHECK(with_token.status == 307);

  const auto info = fetch("GET", hub.url("/api/models/org/gated"));
  CHECK(info.status == 200);
  CHECK(info.body.find("\"gated\":\"auto\"") != std::string::npos);
}

TEST_CASE("disabled repository is 403") {
  HubFixture hub;
  for (const auto* path : {"/org/disabled/resolve/main/config.json", "/api/models/org/disabled"}) {
    CAPTURE(path);
    const auto result = fetch("GET", hub.url(path), {.headers = {hub.auth_header()}});
    CHECK(result.status == 403);
    CHECK(result.header("X-Error-Message") == "Access to this resource is disabled.");
  }
}

TEST_CASE("invalid token is rejected everywhere") {
  HubFixture hub;
  for (const auto* path : {"/org/model/resolve/main/config.json", "/api/models/org/model", "/org/none/resolve/main/x"}) {
    CAPTURE(path);
    const auto result = fetch("GET", hub.url(path), {.headers = {"Authorization: Bearer hf_wrong"}});
    CHECK(result.status == 401);
    CHECK(result.header("X-Error-Message") == "Invalid credentials in Authorization header");
    CHECK_FALSE(result.has_header("X-Error-Code"));
  }
  const auto public_with_token = fetch("GET", hub.url("/api/models/org/model"), {.headers = {hub.auth_header()}});
  CHECK(public_with_token.status == 200);
}

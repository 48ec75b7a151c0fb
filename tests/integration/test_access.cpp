// The access policy with clients of two uids: a read-only uid opens what is cached and is
// refused downloads and administration, with errors that name the operation and the rule.
#include "tests/integration/daemon_fixture.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

using namespace timmd::testing;
using nlohmann::json;

namespace {

constexpr uid_t k_other_uid = 65534; // nobody
constexpr const char* k_demo = "timm/test_vit.r160_in1k";

// Runs the test client as the other uid (setpriv from util-linux) and returns what it printed.
json as_other_user(std::vector<std::string> args) {
  std::vector<std::string> command = {"/usr/bin/setpriv", "--reuid=" + std::to_string(k_other_uid),
                                      "--regid=" + std::to_string(k_other_uid), "--clear-groups", TEST_CLIENT_BINARY};
  command.insert(command.end(), args.begin(), args.end());
  const auto ran = run_program(command);
  REQUIRE_MESSAGE(ran.status == 0, "the test client as uid 65534 failed: " << ran.err);
  return json::parse(ran.out);
}

} // namespace

TEST_CASE("a read-only uid opens a cached model and is refused a download and administration") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: switching to a second uid needs root");
    return;
  }
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  std::filesystem::permissions(scratch.path(), std::filesystem::perms(0755));
  make_repo(scratch.path() / "hub", "org/other", {{"model.safetensors", data_dir() / "remap" / "npz" / "expected.safetensors"}});
  std::filesystem::copy(data_dir() / "timm" / "demo-repo" / "timm", scratch.path() / "hub" / "timm",
                        std::filesystem::copy_options::recursive);
  auto hub = start_hub(scratch.path() / "hub");
  DaemonOptions options{hub->endpoint()};
  options.config = {{"socket_mode", "0666"},
                    {"access", {{"read", {"*"}}, {"download", {"uid:0"}}, {"admin", {"uid:0"}}}}};
  DaemonProcess daemon(scratch.path() / "daemon", options);
  daemon.start();
  std::filesystem::permissions(scratch.path() / "daemon", std::filesystem::perms(0755));
  std::filesystem::permissions(daemon.socket().parent_path(), std::filesystem::perms(0755));

  auto root = daemon.connect();
  REQUIRE(root.request("pull", {{"name", k_demo}}).has_value());

  const auto socket = daemon.socket();
  const auto results = as_other_user({"access-probe", socket.string(), k_demo, "org/other"});
  INFO(results.dump(2));
  REQUIRE_FALSE(results.contains("connect"));
  CHECK(results["open_cached"] == 80);
  for (const auto* op : {"pull", "open_uncached", "gc", "verify", "remove"}) {
    CAPTURE(op);
    REQUIRE(results[op].is_object());
    CHECK(results[op]["code"] == "permission_denied");
    CHECK(results[op]["message"].get<std::string>().find("uid 65534") != std::string::npos);
  }
  CHECK(results["gc"]["message"].get<std::string>().find("'admin' access") != std::string::npos);
  CHECK(results["verify"]["message"].get<std::string>().find("'admin' access") != std::string::npos);
  CHECK(results["remove"]["message"].get<std::string>().find("'admin' access") != std::string::npos);
  CHECK(results["pull"]["message"].get<std::string>().find("uid:0") != std::string::npos);
  CHECK(daemon.log().find("refused") != std::string::npos);

  // Root still downloads and administers.
  CHECK(root.request("pull", {{"name", "org/other"}}).has_value());
  CHECK(root.request("gc").has_value());
  CHECK(root.request("verify").has_value());

  // A socket the user may not open is reported as such, never as a missing daemon (which
  // would make timmctl start a private one with a second cache).
  std::filesystem::permissions(socket, std::filesystem::perms(0600));
  const auto refused = as_other_user({"connect-probe", socket.string()});
  INFO(refused.dump());
  CHECK(refused["code"] == "permission_denied");
  CHECK(refused["message"].get<std::string>().find("add you to it") != std::string::npos);
}

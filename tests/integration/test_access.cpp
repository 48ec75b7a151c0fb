// The access policy with clients of two uids: a read-only uid opens what is cached and is
// refused downloads and administration, with errors that name the operation and the rule.
#include "client/timmd_client.hpp"
#include "tests/integration/daemon_fixture.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

using namespace timmd::testing;
using nlohmann::json;

namespace {

constexpr uid_t k_other_uid = 65534; // nobody
constexpr const char* k_demo = "timm/test_vit.r160_in1k";

// Runs `work` in a child process with the other uid and returns what it printed to the pipe.
std::string as_other_user(const std::function<json()>& work) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    if (::setgid(k_other_uid) != 0 || ::setuid(k_other_uid) != 0) {
      ::_exit(3);
    }
    const auto text = work().dump();
    (void)::write(pipe_fds[1], text.data(), text.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string out;
  char buffer[4096];
  for (ssize_t got; (got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) {
    out.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), "the child process as uid 65534 failed");
  return out;
}

json error_of(const timmd::proto::Error& error) {
  return {{"code", std::string(timmd::proto::to_string(error.code))}, {"message", error.message}};
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
  const auto results = json::parse(as_other_user([&] {
    json out;
    auto client = timmd::client::Client::connect(socket);
    if (!client) {
      return json{{"connect", error_of(client.error())}};
    }
    auto opened = client->open(k_demo, {{"img_size", 224}});
    out["open_cached"] = opened ? json(opened->tensors().size()) : error_of(opened.error());
    auto pull = client->connection().request("pull", {{"name", "org/other"}});
    out["pull"] = pull ? json("allowed") : error_of(pull.error());
    auto open_new = client->open("org/other");
    out["open_uncached"] = open_new ? json("allowed") : error_of(open_new.error());
    auto gc = client->connection().request("gc");
    out["gc"] = gc ? json("allowed") : error_of(gc.error());
    auto verify = client->connection().request("verify");
    out["verify"] = verify ? json("allowed") : error_of(verify.error());
    auto remove = client->connection().request("remove", {{"name", k_demo}, {"dry_run", true}});
    out["remove"] = remove ? json("allowed") : error_of(remove.error());
    return out;
  }));

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
  const auto refused = json::parse(as_other_user([&] {
    auto client = timmd::client::Client::connect(socket);
    return client ? json("connected") : error_of(client.error());
  }));
  INFO(refused.dump());
  CHECK(refused["code"] == "permission_denied");
  CHECK(refused["message"].get<std::string>().find("add you to it") != std::string::npos);
}

// The timmd-testhub binary: ready line, ready file, serving, exit on SIGTERM.
#include "tests/hubserver/test_support.hpp"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>

extern char** environ;

using namespace timmd::testhub::testing;

TEST_CASE("binary prints its endpoints and exits 0 on SIGTERM") {
  TempDir root;
  write_file(root.path() / "repos" / "org" / "model" / "config.json", "{}\n");
  const auto ready_file = root.path() / "ready.json";

  int out[2];
  REQUIRE(::pipe(out) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);

  const std::string binary = TIMMD_TESTHUB_BINARY;
  const auto repos = (root.path() / "repos").string();
  const auto ready = ready_file.string();
  std::vector<std::string> arguments = {binary,      "--repos", repos,     "--port",       "0",
                                        "--cdn-port", "0",       "--token", "hf_secret", "--ready-file", ready};
  std::vector<char*> argv;
  for (auto& argument : arguments) {
    argv.push_back(argument.data());
  }
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);

  std::string line;
  char c = 0;
  while (::read(out[0], &c, 1) == 1 && c != '\n') {
    line.push_back(c);
  }
  ::close(out[0]);

  std::smatch match;
  const auto ready_line =
      std::regex_match(line, match, std::regex(R"(timmd-testhub api=(http://127\.0\.0\.1:\d+) cdn=(http://127\.0\.0\.1:\d+))"));
  CHECK(ready_line);
  if (ready_line) {
    const auto api = match[1].str();
    const auto info = fetch("GET", api + "/api/models/org/model", {.headers = {"Authorization: Bearer hf_secret"}});
    CHECK(info.status == 200);
    std::ifstream input(ready_file);
    const auto json = nlohmann::json::parse(input);
    CHECK(json.at("api") == api);
    CHECK(json.at("cdn") == match[2].str());
  }

  ::kill(pid, SIGTERM);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

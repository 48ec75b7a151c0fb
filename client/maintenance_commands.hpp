// timmctl verify and remove: checking the cache against its index, and removing a repository.
#pragma once

#include <string>

namespace timmd::client {

struct VerifyCommand {
  std::string name; // empty: the whole cache
  std::string revision;
  bool repair = false;
};

struct RemoveCommand {
  std::string name;
  std::string revision; // empty: every cached revision
  bool dry_run = false;
};

// Runs `verify` with a progress bar on a terminal and prints the problems found and what was
// done about them. Returns 0 when every problem was repaired (or none was found), else 1.
int run_verify(const VerifyCommand& command, const std::string& socket, bool json_output);

// Runs `remove` and prints what went and what was kept; returns the exit status.
int run_remove(const RemoveCommand& command, const std::string& socket, bool json_output);

} // namespace timmd::client

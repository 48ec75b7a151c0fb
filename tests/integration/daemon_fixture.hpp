// Test support for integration tests: a scratch directory, fixture repositories for the test
// Hub, and a real timmd process started on a private socket and cache.
#pragma once

#include "client/connection.hpp"
#include "tests/hubserver/hub_server.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

namespace timmd::testing {

// A fresh directory under $TMPDIR (or /tmp), removed at the end of the test unless
// TIMMD_KEEP_TEST_DIRS is set (to inspect the daemon log and cache of a failed test).
class ScratchDir {
public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const noexcept { return m_path; }

private:
  std::filesystem::path m_path;
};

// Test data shipped in tests/data.
std::filesystem::path data_dir();

// Copies `files` (path in the repository -> source file) into ROOT/ORG/NAME.
void make_repo(const std::filesystem::path& root, const std::string& repo,
               const std::map<std::string, std::filesystem::path>& files);

// Writes `size` bytes of a seeded pseudo-random pattern to `path`.
void write_random_file(const std::filesystem::path& path, std::uint64_t size, unsigned seed);

// Lowercase hex SHA-256 of a file.
std::string sha256_of(const std::filesystem::path& path);

// The sha256 -> path of every blob file in a cache directory.
std::map<std::string, std::filesystem::path> cached_blobs(const std::filesystem::path& cache_dir);

struct DaemonOptions {
  std::string endpoint;
  nlohmann::json config = nlohmann::json::object(); // merged over fast test defaults
  std::vector<std::string> extra_args{};
  std::map<std::string, std::string> env{}; // set in the daemon's environment
  std::filesystem::path socket{};           // default: DIR/run/timmd.sock
};

// A timmd process with its own socket, cache and log under `dir`.
class DaemonProcess {
public:
  DaemonProcess(std::filesystem::path dir, DaemonOptions options);
  ~DaemonProcess(); // SIGKILLs a daemon still running

  // Starts the daemon and waits until its socket accepts `hello` (at most 30 s); throws
  // std::runtime_error with the log when it does not.
  void start();
  // Starts the process without waiting for its socket.
  void launch();
  // Waits for the process to exit by itself; returns its exit status, -1 after `timeout`.
  int wait_exit(std::chrono::seconds timeout);
  void kill_hard(); // SIGKILL, then reap
  int terminate();  // SIGTERM, then wait; returns the exit status (-1 on timeout)
  bool running();

  client::Connection connect() const;
  std::string log() const;

  const std::filesystem::path& socket() const noexcept { return m_socket; }
  const std::filesystem::path& cache_dir() const noexcept { return m_cache; }
  pid_t pid() const noexcept { return m_pid; }

private:
  std::filesystem::path m_dir;
  DaemonOptions m_options;
  std::filesystem::path m_socket;
  std::filesystem::path m_cache;
  std::filesystem::path m_log;
  std::filesystem::path m_config;
  pid_t m_pid = -1;
  std::string m_exit; // how the process ended, once running() saw it end
};

// A test Hub on 127.0.0.1 serving the repositories under `root`.
// `throttle` limits each connection, `link_throttle` all of them together (bytes/s; 0: none).
std::unique_ptr<testhub::Server> start_hub(const std::filesystem::path& root, const std::string& token = "",
                                           std::uint64_t throttle = 0, std::uint64_t link_throttle = 0);

// Child processes start with posix_spawn and TIMMD_SOCKET unset. A forked child of the test
// process must not run its code: it can block on a lock that another thread, such as the test
// Hub's, held at the moment of the fork.
struct CommandResult {
  int status = -1;
  std::string out;
  std::string err;
};
// Runs args[0] (a path) with the rest as arguments to its end; returns exit status, stdout and
// stderr.
CommandResult run_program(std::vector<std::string> args);
CommandResult run_timmctl(const std::vector<std::string>& args);

// A started program whose standard output is the pipe `out` (the caller closes it and reaps
// the process).
struct ChildProcess {
  pid_t pid = -1;
  int out = -1;
};
ChildProcess start_program(std::vector<std::string> args);

} // namespace timmd::testing

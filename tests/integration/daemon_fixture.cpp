#include "tests/integration/daemon_fixture.hpp"

#include "daemon/store/digest.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <csignal>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace timmd::testing {
namespace {

constexpr std::chrono::seconds k_start_timeout{30};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Fast retries and short stalls, so failure tests end in seconds.
nlohmann::json default_config() {
  return {{"log_level", "debug"},
          {"shutdown_grace_s", 5},
          {"download",
           {{"chunk_size", 1024 * 1024},
            {"connections_per_file", 4},
            {"stall_timeout_s", 3},
            {"connect_timeout_s", 3},
            {"retry_attempts", 4},
            {"retry_base_delay_ms", 50},
            {"retry_max_delay_ms", 200}}}};
}

// This process's environment without the variables in `unset`, with those in `set` added.
std::vector<std::string> child_environment(const std::vector<std::string>& unset,
                                           const std::map<std::string, std::string>& set) {
  std::vector<std::string> entries;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto name = std::string(text.substr(0, text.find('=')));
    if (std::ranges::find(unset, name) == unset.end() && !set.contains(name)) {
      entries.emplace_back(text);
    }
  }
  for (const auto& [name, value] : set) {
    entries.push_back(name + "=" + value);
  }
  return entries;
}

std::vector<char*> null_terminated(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& text : strings) {
    pointers.push_back(text.data());
  }
  pointers.push_back(nullptr);
  return pointers;
}

// Starts a program with posix_spawn rather than fork, so the child runs none of this process's
// code before exec. A forked child that did could block forever on a lock (malloc's or ASan's
// allocator's) that another thread, such as the test Hub's, held at the moment of the fork.
pid_t spawn(std::vector<std::string> args, std::vector<std::string> env, const posix_spawn_file_actions_t& actions) {
  auto argv = null_terminated(args);
  auto envp = null_terminated(env);
  pid_t pid = -1;
  if (const int error = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data()); error != 0) {
    throw std::runtime_error("cannot start " + args[0] + ": " + std::strerror(error));
  }
  return pid;
}

// posix_spawn_file_actions_t with a destructor.
struct FileActions {
  posix_spawn_file_actions_t actions{};
  FileActions() { ::posix_spawn_file_actions_init(&actions); }
  ~FileActions() { ::posix_spawn_file_actions_destroy(&actions); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
};

} // namespace

ScratchDir::ScratchDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/timmd-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed for " + pattern);
  }
  m_path = pattern;
}

ScratchDir::~ScratchDir() {
  if (std::getenv("TIMMD_KEEP_TEST_DIRS") != nullptr) {
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(m_path, ec);
}

std::filesystem::path data_dir() {
  return std::filesystem::path(TIMMD_SOURCE_DIR) / "tests" / "data";
}

void make_repo(const std::filesystem::path& root, const std::string& repo,
               const std::map<std::string, std::filesystem::path>& files) {
  for (const auto& [path, source] : files) {
    const auto target = root / repo / path;
    std::filesystem::create_directories(target.parent_path());
    std::filesystem::copy_file(source, target, std::filesystem::copy_options::overwrite_existing);
  }
}

void write_random_file(const std::filesystem::path& path, std::uint64_t size, unsigned seed) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  std::mt19937_64 engine(seed);
  std::vector<std::uint64_t> block(1 << 17);
  while (size > 0) {
    for (auto& word : block) {
      word = engine();
    }
    const auto bytes = std::min<std::uint64_t>(size, block.size() * sizeof(std::uint64_t));
    out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(bytes));
    size -= bytes;
  }
}

std::string sha256_of(const std::filesystem::path& path) {
  auto digest = store::hash_file(path, store::DigestKind::sha256);
  if (!digest) {
    throw std::runtime_error(digest.error().message);
  }
  return *digest;
}

std::map<std::string, std::filesystem::path> cached_blobs(const std::filesystem::path& cache_dir) {
  std::map<std::string, std::filesystem::path> blobs;
  const auto dir = cache_dir / "blobs" / "sha256";
  if (!std::filesystem::exists(dir)) {
    return blobs;
  }
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      blobs[entry.path().filename().string()] = entry.path();
    }
  }
  return blobs;
}

DaemonProcess::DaemonProcess(std::filesystem::path dir, DaemonOptions options)
    : m_dir(std::move(dir)), m_options(std::move(options)),
      m_socket(m_options.socket.empty() ? m_dir / "run" / "timmd.sock" : m_options.socket),
      m_cache(m_dir / "cache"), m_log(m_dir / "timmd.log"), m_config(m_dir / "timmd.json") {
  auto config = default_config();
  config.merge_patch(m_options.config);
  std::filesystem::create_directories(m_dir);
  std::ofstream(m_config) << config.dump(2);
}

DaemonProcess::~DaemonProcess() {
  if (m_pid > 0) {
    kill_hard();
  }
}

void DaemonProcess::start() {
  launch();
  // Start-up takes about a second, most of it parsing the registry, and several seconds under
  // the sanitizers. The margin covers CI machines whose neighbours take the CPU for a while.
  const auto deadline = std::chrono::steady_clock::now() + k_start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running()) {
      throw std::runtime_error("timmd exited during start-up (" + m_exit + "):\n" + log());
    }
    if (auto connection = client::Connection::open(m_socket, "test"); connection) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("timmd did not answer on " + m_socket.string() + " within " +
                           std::to_string(k_start_timeout.count()) + " s:\n" + log());
}

int DaemonProcess::wait_exit(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (m_pid > 0 && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
      m_pid = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

void DaemonProcess::launch() {
  std::vector<std::string> args = {TIMMD_BINARY,     "--config",        m_config.string(),
                                   "--socket",       m_socket.string(), "--cache-dir",
                                   m_cache.string(), "--endpoint",      m_options.endpoint};
  args.insert(args.end(), m_options.extra_args.begin(), m_options.extra_args.end());

  FileActions files;
  ::posix_spawn_file_actions_addopen(&files.actions, STDOUT_FILENO, m_log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  ::posix_spawn_file_actions_adddup2(&files.actions, STDOUT_FILENO, STDERR_FILENO);
  m_pid = spawn(std::move(args), child_environment({"HF_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE", "LISTEN_FDS"}, m_options.env),
                files.actions);
}

bool DaemonProcess::running() {
  if (m_pid <= 0) {
    return false;
  }
  int status = 0;
  if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
    m_pid = -1;
    m_exit = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                 : "exit status " + std::to_string(WEXITSTATUS(status));
    return false;
  }
  return true;
}

void DaemonProcess::kill_hard() {
  if (m_pid > 0) {
    ::kill(m_pid, SIGKILL);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
    m_pid = -1;
  }
}

int DaemonProcess::terminate() {
  if (m_pid <= 0) {
    return -1;
  }
  ::kill(m_pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
      m_pid = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

client::Connection DaemonProcess::connect() const {
  auto connection = client::Connection::open(m_socket, "test");
  if (!connection) {
    throw std::runtime_error("cannot connect to timmd: " + connection.error().message + "\n" + log());
  }
  return std::move(*connection);
}

std::string DaemonProcess::log() const {
  return read_file(m_log);
}

std::unique_ptr<testhub::Server> start_hub(const std::filesystem::path& root, const std::string& token,
                                           std::uint64_t throttle, std::uint64_t link_throttle) {
  testhub::Options options;
  options.repos_root = root;
  options.token = token;
  options.throttle_bytes_per_second = throttle;
  options.link_bytes_per_second = link_throttle;
  auto hub = std::make_unique<testhub::Server>(options);
  hub->start();
  return hub;
}

ChildProcess start_program(std::vector<std::string> args) {
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe failed: ") + std::strerror(errno));
  }
  // The pipe closes on exec, so only the child's standard output keeps it open.
  FileActions files;
  ::posix_spawn_file_actions_adddup2(&files.actions, out_pipe[1], STDOUT_FILENO);
  const pid_t pid = spawn(std::move(args), child_environment({"TIMMD_SOCKET"}, {}), files.actions);
  ::close(out_pipe[1]);
  return ChildProcess{pid, out_pipe[0]};
}

CommandResult run_program(std::vector<std::string> args) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe failed: ") + std::strerror(errno));
  }
  FileActions files;
  ::posix_spawn_file_actions_adddup2(&files.actions, out_pipe[1], STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&files.actions, err_pipe[1], STDERR_FILENO);
  const pid_t pid = spawn(std::move(args), child_environment({"TIMMD_SOCKET"}, {}), files.actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  CommandResult result;
  auto drain = [](int fd, std::string& into) {
    char buffer[4096];
    ssize_t got = 0;
    while ((got = ::read(fd, buffer, sizeof(buffer))) > 0) {
      into.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(fd);
  };
  std::thread err_reader(drain, err_pipe[0], std::ref(result.err));
  drain(out_pipe[0], result.out);
  err_reader.join();
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

CommandResult run_timmctl(const std::vector<std::string>& args) {
  std::vector<std::string> full = {TIMMCTL_BINARY};
  full.insert(full.end(), args.begin(), args.end());
  return run_program(std::move(full));
}

} // namespace timmd::testing

#include "client/daemon_locator.hpp"

#include "proto/paths.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace timmd::client {
namespace {

using proto::Errc;

constexpr auto k_start_timeout = std::chrono::seconds(15);

bool is_executable(const std::filesystem::path& path) {
  return ::access(path.c_str(), X_OK) == 0 && std::filesystem::is_regular_file(path);
}

// Starts the daemon detached from this terminal; returns its pid.
proto::Result<pid_t> spawn_daemon(const std::filesystem::path& binary, const std::filesystem::path& socket,
                                  const std::filesystem::path& cache_dir, const std::filesystem::path& log_file) {
  std::error_code ec;
  std::filesystem::create_directories(cache_dir, ec);
  const int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    return proto::make_error(Errc::internal,
                             "cannot open the daemon log " + log_file.string() + ": " + std::strerror(errno));
  }

  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return proto::make_error(Errc::internal, std::string("cannot start timmd: fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setsid();
    const int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    const std::string socket_arg = socket.string();
    const std::string cache_arg = cache_dir.string();
    const char* argv[] = {"timmd", "--socket", socket_arg.c_str(), "--cache-dir", cache_arg.c_str(), nullptr};
    ::execv(binary.c_str(), const_cast<char* const*>(argv));
    std::_Exit(127);
  }
  ::close(log_fd);
  return pid;
}

} // namespace

std::optional<std::filesystem::path> find_daemon_binary() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto dir = self.parent_path();
    for (const auto& candidate : {dir / "timmd", dir / ".." / "daemon" / "timmd", dir / ".." / "sbin" / "timmd"}) {
      if (is_executable(candidate)) {
        return std::filesystem::weakly_canonical(candidate);
      }
    }
  }

  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && is_executable(std::filesystem::path(dir) / "timmd")) {
      return std::filesystem::path(dir) / "timmd";
    }
  }
  for (const auto* candidate : {"/usr/sbin/timmd", "/usr/local/sbin/timmd"}) {
    if (is_executable(candidate)) {
      return candidate;
    }
  }
  return std::nullopt;
}

proto::Result<Connection> connect_to_daemon(const LocateOptions& options) {
  std::optional<std::filesystem::path> explicit_socket = options.socket;
  if (!explicit_socket) {
    if (const char* env = std::getenv("TIMMD_SOCKET"); env != nullptr && *env != '\0') {
      explicit_socket = env;
    }
  }
  if (explicit_socket) {
    auto connection = Connection::open(*explicit_socket, options.client_name);
    if (!connection && connection.error().code == Errc::upstream_unavailable) {
      // result::error() returns a copy, so the amended error is built anew.
      auto error = connection.error();
      error.message += "; is timmd running? Start it with `timmd --socket " + explicit_socket->string() +
                       "`, or drop --socket and TIMMD_SOCKET to use the default daemon";
      return error;
    }
    return connection;
  }

  const auto user_socket = proto::user_socket_path();
  std::vector<std::string> tried;
  for (const auto& socket : {proto::k_system_socket_path, user_socket}) {
    auto connection = Connection::open(socket, options.client_name);
    if (connection || connection.error().code != Errc::upstream_unavailable) {
      return connection;
    }
    tried.push_back(socket.string());
  }

  if (!options.start_if_missing) {
    return proto::make_error(Errc::upstream_unavailable,
                             "no timmd answers at " + tried[0] + " or " + tried[1] + "; start one with `timmd`");
  }
  const auto binary = find_daemon_binary();
  if (!binary) {
    return proto::make_error(Errc::upstream_unavailable,
                             "no timmd answers at " + tried[0] + " or " + tried[1] +
                                 ", and no timmd binary was found next to timmctl or on PATH to start one");
  }

  const auto cache_dir = proto::user_cache_dir();
  const auto log_file = cache_dir / "timmd.log";
  auto pid = spawn_daemon(*binary, user_socket, cache_dir, log_file);
  if (!pid) {
    return pid.error();
  }

  const auto deadline = std::chrono::steady_clock::now() + k_start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto connection = Connection::open(user_socket, options.client_name);
    if (connection || connection.error().code != Errc::upstream_unavailable) {
      return connection;
    }
    int status = 0;
    if (::waitpid(*pid, &status, WNOHANG) == *pid) {
      return proto::make_error(Errc::upstream_unavailable, "timmd exited during start-up (status " +
                                                               std::to_string(WEXITSTATUS(status)) + "); see " +
                                                               log_file.string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return proto::make_error(Errc::timeout, "timmd did not start listening on " + user_socket.string() + " within " +
                                              std::to_string(k_start_timeout.count()) + " s; see " + log_file.string());
}

} // namespace timmd::client

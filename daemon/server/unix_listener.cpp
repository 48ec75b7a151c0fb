#include "daemon/server/unix_listener.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstring>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace timmd::server {
namespace {

using proto::Errc;
using stream = boost::asio::local::stream_protocol;

proto::Error listener_error(const std::filesystem::path& path, const std::string& what) {
  return proto::make_error(Errc::internal, "cannot listen on " + path.string() + ": " + what,
                           {{"socket", path.string()}});
}

proto::Result<void> check_directory(const std::filesystem::path& dir) {
  struct stat info {};
  if (lstat(dir.c_str(), &info) != 0) {
    if (errno != ENOENT) {
      return listener_error(dir, std::strerror(errno));
    }
    std::error_code ec;
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return listener_error(dir, std::string("cannot create the socket directory: ") + std::strerror(errno));
    }
    if (lstat(dir.c_str(), &info) != 0) {
      return listener_error(dir, std::strerror(errno));
    }
  }

  if (S_ISLNK(info.st_mode)) {
    return listener_error(dir, "the socket directory is a symbolic link; use a real directory");
  }
  if (!S_ISDIR(info.st_mode)) {
    return listener_error(dir, "the socket directory is not a directory");
  }
  if (info.st_uid != geteuid() && info.st_uid != 0) {
    return listener_error(dir, "the socket directory is owned by uid " + std::to_string(info.st_uid) +
                                   "; use a directory owned by this user or root");
  }
  if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (info.st_mode & S_ISVTX) == 0) {
    return listener_error(dir, "other users can write to the socket directory; run chmod go-w on it "
                               "or choose another --socket path");
  }
  return {};
}

// Returns true when a process accepts connections at `path`.
bool someone_listens(const std::filesystem::path& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  const bool connected = connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return connected;
}

proto::Result<void> clear_stale_socket(const std::filesystem::path& path) {
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0) {
    return {};
  }
  if (!S_ISSOCK(info.st_mode)) {
    return listener_error(path, "the path exists and is not a socket; remove it or choose another --socket path");
  }
  if (someone_listens(path)) {
    return listener_error(path, "another daemon is listening there; stop it first or choose another --socket path");
  }
  spdlog::info("removing stale socket {} (no process listens on it)", path.string());
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return listener_error(path, std::string("cannot remove the stale socket: ") + std::strerror(errno));
  }
  return {};
}

} // namespace

proto::Result<Acceptor> open_listener(boost::asio::io_context& io, const std::filesystem::path& path, unsigned mode,
                                      ListenerInfo& info) {
  info.path = path;

  const int inherited = sd_listen_fds(1);
  if (inherited == 1 && sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, nullptr, 0) > 0) {
    Acceptor acceptor(io);
    boost::system::error_code ec;
    acceptor.assign(stream(), SD_LISTEN_FDS_START, ec);
    if (ec) {
      return listener_error(path, "cannot adopt the socket passed by systemd: " + ec.message());
    }
    info.inherited = true;
    info.path = acceptor.local_endpoint().path();
    return Acceptor(std::move(acceptor));
  }
  if (inherited > 1) {
    spdlog::warn("systemd passed {} sockets; expected one Unix stream socket, binding {} instead", inherited,
                 path.string());
  }

  if (path.string().size() >= sizeof(sockaddr_un::sun_path)) {
    return listener_error(path, "the path is longer than the " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                                    " bytes a Unix socket address can hold; choose a shorter --socket path");
  }
  if (auto checked = check_directory(path.parent_path()); !checked) {
    return checked.error();
  }
  if (auto cleared = clear_stale_socket(path); !cleared) {
    return cleared.error();
  }

  Acceptor acceptor(io);
  boost::system::error_code ec;
  acceptor.open(stream(), ec);
  if (!ec) {
    // The socket file gets its final mode at bind time, so no other user can connect before
    // the chmod below.
    const auto old_mask = umask(0777 & ~mode);
    acceptor.bind(stream::endpoint(path.string()), ec);
    umask(old_mask);
  }
  if (!ec) {
    acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return listener_error(path, ec.message());
  }
  if (chmod(path.c_str(), mode) != 0) {
    return listener_error(path, std::string("cannot set the socket mode: ") + std::strerror(errno));
  }
  return Acceptor(std::move(acceptor));
}

} // namespace timmd::server

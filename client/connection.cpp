#include "client/connection.hpp"

#include "proto/frame.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace timmd::client {
namespace {

using proto::Errc;

proto::Error connection_error(const std::filesystem::path& socket, const std::string& what) {
  return proto::make_error(Errc::upstream_unavailable, "connection to timmd at " + socket.string() + " failed: " + what,
                           {{"socket", socket.string()}});
}

// Reads exactly `size` bytes with recvmsg, so that descriptors the daemon attaches to a frame
// (SCM_RIGHTS) are received rather than dropped by the kernel; they are appended to `fds`.
bool read_all(int fd, void* data, std::size_t size, std::vector<int>& fds) {
  auto* out = static_cast<char*>(data);
  while (size > 0) {
    iovec chunk{out, size};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * 4)> control{};
    msghdr header{};
    header.msg_iov = &chunk;
    header.msg_iovlen = 1;
    header.msg_control = control.data();
    header.msg_controllen = control.size();
    const auto got = ::recvmsg(fd, &header, MSG_CMSG_CLOEXEC);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    for (cmsghdr* message = CMSG_FIRSTHDR(&header); message != nullptr; message = CMSG_NXTHDR(&header, message)) {
      if (message->cmsg_level == SOL_SOCKET && message->cmsg_type == SCM_RIGHTS) {
        const auto count = (message->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
          int received = -1;
          std::memcpy(&received, CMSG_DATA(message) + i * sizeof(int), sizeof(int));
          fds.push_back(received);
        }
      }
    }
    if (got <= 0) {
      return false;
    }
    out += got;
    size -= static_cast<std::size_t>(got);
  }
  return true;
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const auto sent = ::send(fd, data, size, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) {
      continue;
    }
    if (sent <= 0) {
      return false;
    }
    data += sent;
    size -= static_cast<std::size_t>(sent);
  }
  return true;
}

} // namespace

Connection::Connection(int fd, std::filesystem::path socket_path) : m_fd(fd), m_socket_path(std::move(socket_path)) {}

Connection::Connection(Connection&& other) noexcept
    : m_fd(std::exchange(other.m_fd, -1)), m_socket_path(std::move(other.m_socket_path)),
      m_daemon_info(std::move(other.m_daemon_info)), m_next_id(other.m_next_id),
      m_received_fds(std::exchange(other.m_received_fds, {})) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    m_fd = std::exchange(other.m_fd, -1);
    m_socket_path = std::move(other.m_socket_path);
    m_daemon_info = std::move(other.m_daemon_info);
    m_next_id = other.m_next_id;
    for (const int fd : m_received_fds) {
      ::close(fd);
    }
    m_received_fds = std::exchange(other.m_received_fds, {});
  }
  return *this;
}

Connection::~Connection() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
  for (const int fd : m_received_fds) {
    ::close(fd);
  }
}

std::optional<int> Connection::take_received_fd() {
  if (m_received_fds.empty()) {
    return std::nullopt;
  }
  const int fd = m_received_fds.front();
  m_received_fds.erase(m_received_fds.begin());
  return fd;
}

proto::Result<Connection> Connection::open(const std::filesystem::path& socket, const std::string& client_name) {
  sockaddr_un address{};
  if (socket.string().size() >= sizeof(address.sun_path)) {
    return connection_error(socket, "the path is too long for a Unix socket");
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return connection_error(socket, std::strerror(errno));
  }
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket.c_str(), sizeof(address.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EACCES) {
      // A daemon is there but this user may not talk to it: starting a private daemon instead
      // would silently fork the cache.
      const passwd* user = ::getpwuid(::geteuid());
      const std::string name = user != nullptr ? user->pw_name : std::to_string(::geteuid());
      return proto::make_error(Errc::permission_denied,
                               "connection to timmd at " + socket.string() +
                                   " was refused: permission denied. The socket belongs to the group the "
                                   "daemon runs as (timmd for the system service): ask an administrator to add "
                                   "you to it (`adduser " + name + " timmd`), then log in again",
                               {{"socket", socket.string()}});
    }
    std::error_code ignored;
    if (error == ECONNREFUSED && std::filesystem::is_socket(socket, ignored)) {
      return connection_error(socket, std::string(std::strerror(error)) +
                                          " (the socket exists but no daemon accepts on it: timmd is shutting "
                                          "down, or it stopped without removing its socket)");
    }
    return connection_error(socket, std::strerror(error));
  }

  Connection connection(fd, socket);
  auto hello = connection.request("hello", {{"protocol", proto::k_protocol_version}, {"client", client_name}});
  if (!hello) {
    return hello.error();
  }
  connection.m_daemon_info = std::move(*hello);
  return connection;
}

proto::Result<void> Connection::write_message(const nlohmann::json& message) {
  auto frame = proto::encode_frame(message);
  if (!frame) {
    return frame.error();
  }
  if (!write_all(m_fd, frame->data(), frame->size())) {
    return connection_error(m_socket_path, std::string("sending failed: ") + std::strerror(errno));
  }
  return {};
}

proto::Result<nlohmann::json> Connection::read_message() {
  std::array<std::byte, proto::k_frame_header_size> header{};
  if (!read_all(m_fd, header.data(), header.size(), m_received_fds)) {
    return connection_error(m_socket_path,
                            "the daemon closed the connection before it answered (it stopped or crashed; its log "
                            "says why)");
  }
  auto length = proto::decode_frame_length(header);
  if (!length) {
    return connection_error(m_socket_path, length.error().message);
  }
  std::string payload(*length, '\0');
  if (!read_all(m_fd, payload.data(), payload.size(), m_received_fds)) {
    return connection_error(m_socket_path, "the daemon closed the connection mid-frame");
  }
  return proto::decode_frame_payload(payload);
}

proto::Result<nlohmann::json> Connection::request(const std::string& op, nlohmann::json params,
                                                  const EventCallback& on_event) {
  if (m_fd < 0) {
    return connection_error(m_socket_path, "the connection is closed");
  }
  const auto id = m_next_id++;
  params["id"] = id;
  params["op"] = op;
  if (auto sent = write_message(params); !sent) {
    return sent.error();
  }

  while (true) {
    auto message = read_message();
    if (!message) {
      return message.error();
    }
    if (!message->contains("id") || (*message)["id"] != id) {
      // A frame with a null id reports a framing error of the whole connection.
      if (message->contains("error")) {
        return proto::Error::from_json((*message)["error"]);
      }
      continue;
    }
    if (message->contains("event")) {
      if (on_event) {
        on_event(*message);
      }
      continue;
    }
    if (message->value("ok", false)) {
      auto result = message->contains("result") ? (*message)["result"] : nlohmann::json::object();
      return proto::Result<nlohmann::json>(boost::system::in_place_value, std::move(result));
    }
    return proto::Error::from_json(message->contains("error") ? (*message)["error"] : nlohmann::json());
  }
}

} // namespace timmd::client

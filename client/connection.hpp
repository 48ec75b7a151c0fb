// libtimmclient: a blocking connection to timmd over its Unix socket.
//
// Thread safety: one thread at a time per Connection.
#pragma once

#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace timmd::client {

using EventCallback = std::function<void(const nlohmann::json& event)>;

class Connection {
public:
  // Connects to `socket` and sends `hello` with this library's protocol version. A socket that
  // does not exist or refuses the connection is an `upstream_unavailable` error naming the path.
  // A daemon that speaks another protocol version returns its own `invalid_request` error.
  static proto::Result<Connection> open(const std::filesystem::path& socket, const std::string& client_name);

  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Sends {"id", "op", ...params} and waits for the final frame. `on_event` receives every
  // `event` frame before it. Returns the `result` object, or the daemon's error; a broken
  // connection is `upstream_unavailable`.
  proto::Result<nlohmann::json> request(const std::string& op, nlohmann::json params = nlohmann::json::object(),
                                        const EventCallback& on_event = {});

  // The oldest descriptor the daemon sent (with an `open` answer) that the caller has not
  // taken; the caller owns it. Descriptors never taken are closed with the connection.
  std::optional<int> take_received_fd();

  const std::filesystem::path& socket_path() const noexcept { return m_socket_path; }
  const nlohmann::json& daemon_info() const noexcept { return m_daemon_info; }

private:
  Connection(int fd, std::filesystem::path socket_path);
  proto::Result<void> write_message(const nlohmann::json& message);
  proto::Result<nlohmann::json> read_message();

  int m_fd = -1;
  std::filesystem::path m_socket_path;
  nlohmann::json m_daemon_info;
  std::uint64_t m_next_id = 1;
  std::vector<int> m_received_fds;
};

} // namespace timmd::client

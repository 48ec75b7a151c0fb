// Finds the daemon for timmctl and the client library: an explicit socket, $TIMMD_SOCKET,
// the system socket, then the per-user socket. When no daemon accepts a connection, it starts a
// per-user daemon.
#pragma once

#include "client/connection.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace timmd::client {

struct LocateOptions {
  std::optional<std::filesystem::path> socket; // --socket; disables the search and the start
  bool start_if_missing = true;
  std::string client_name = "libtimmclient";
};

// Connects to the first daemon that accepts the connection and `hello`. Without an explicit
// socket (option or $TIMMD_SOCKET) and with no daemon listening, starts `timmd` in the background with the
// per-user socket and cache directory (logging to <cache>/timmd.log) and waits up to 15 s for
// it. Errors name every socket tried and what to do.
proto::Result<Connection> connect_to_daemon(const LocateOptions& options);

// The timmd binary next to this program, in the build tree beside it, or on PATH.
std::optional<std::filesystem::path> find_daemon_binary();

} // namespace timmd::client

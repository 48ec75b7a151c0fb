// The listening Unix socket: inherited from systemd socket activation, or bound at a path
// after checking its directory.
#pragma once

#include "proto/error.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <filesystem>

namespace timmd::server {

using Acceptor = boost::asio::local::stream_protocol::acceptor;

struct ListenerInfo {
  std::filesystem::path path;
  bool inherited = false; // from LISTEN_FDS: the daemon must not remove the path on exit
};

// Takes the socket passed by systemd (LISTEN_FDS) when there is exactly one Unix stream
// socket; otherwise binds `path` with `mode`. Before binding: the directory is created (0700)
// when missing, and must be a real directory (not a symlink) owned by this user or root that
// other users cannot write to unless it is sticky. An existing socket file is removed only
// after a connect attempt shows that no process listens on it. A listening daemon, or a file
// that is not a socket, is an error naming the path.
proto::Result<Acceptor> open_listener(boost::asio::io_context& io, const std::filesystem::path& path, unsigned mode,
                                      ListenerInfo& info);

} // namespace timmd::server

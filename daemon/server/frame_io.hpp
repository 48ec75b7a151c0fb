// Reading and writing protocol frames on a Unix stream socket, each wait with a deadline.
#pragma once

#include "proto/error.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <nlohmann/json.hpp>

#include <chrono>

namespace timmd::server {

using UnixSocket = boost::asio::local::stream_protocol::socket;

enum class ReadStatus {
  ok,
  closed,    // the peer closed the connection (or it was closed locally)
  timed_out, // no frame started within idle_timeout, or a started frame took longer than frame_timeout
  too_large, // the header announced more than the frame limit; the stream cannot be resynchronised
  invalid,   // the payload is not a JSON object; the next frame can still be read
};

struct ReadResult {
  ReadStatus status = ReadStatus::closed;
  nlohmann::json message;
  proto::Error error; // for too_large and invalid
};

// Waits up to idle_timeout for a frame to start, then up to frame_timeout for the rest.
boost::asio::awaitable<ReadResult> read_frame(UnixSocket& socket, std::chrono::seconds idle_timeout,
                                              std::chrono::seconds frame_timeout);

// Writes one frame; false when the peer is gone or did not read it within `timeout`.
boost::asio::awaitable<bool> write_frame(UnixSocket& socket, const nlohmann::json& message,
                                         std::chrono::seconds timeout);

// Writes one frame carrying `fd` as SCM_RIGHTS ancillary data on its first byte; the peer
// receives its own descriptor for the same open file. The caller keeps and closes `fd`.
boost::asio::awaitable<bool> write_frame_with_fd(UnixSocket& socket, const nlohmann::json& message, int fd,
                                                 std::chrono::seconds timeout);

} // namespace timmd::server

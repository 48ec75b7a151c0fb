// One keep-alive HTTP/1.1 connection on the API or CDN listener.
#pragma once

#include "tests/hubserver/fault.hpp"
#include "tests/hubserver/request_log.hpp"
#include "tests/hubserver/router.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace timmd::testhub {

// What every connection shares. It must outlive every connection coroutine.
struct ConnectionContext {
  const Router& router;
  FaultList& faults;
  RequestLog& log;
  std::uint64_t throttle_bytes_per_second = 0; // per connection; 0 = unthrottled
  std::atomic<std::uint64_t> next_request_id{1};
  // A link that every body shares, like the access link of a host: 0 = unthrottled. Each piece
  // books the link after the pieces before it, whichever connection sent them.
  std::uint64_t link_bytes_per_second = 0;
  std::mutex link_mutex;
  std::chrono::steady_clock::time_point link_free{};
};

// Serves requests on `socket` until the peer closes, a fault closes it, or it stays idle for
// two minutes. `listener` is "api" or "cdn". Errors end the connection and never escape.
// `socket` should run on a strand of its own.
boost::asio::awaitable<void> serve_connection(boost::asio::ip::tcp::socket socket, std::string listener,
                                              ConnectionContext& context);

} // namespace timmd::testhub

// One HTTP exchange through CurlMulti, without following redirects: callers decide per hop
// whether to follow and whether the token may go along.
#pragma once

#include "daemon/hub/curl_multi.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace timmd::hub {

struct HttpResponse;

struct HttpRequest {
  std::string method = "GET"; // GET or HEAD
  std::string url;
  std::vector<std::string> headers; // "Name: value"
  // Inclusive byte range sent as "Range: bytes=first-last".
  std::optional<std::pair<std::uint64_t, std::uint64_t>> range;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds total_timeout{0}; // 0: no limit on the whole exchange
  std::chrono::seconds stall_timeout{30};     // no byte received for this long ends the exchange
  // Receives the body in pieces with the response status; returning false aborts the transfer
  // (the result is then CURLE_WRITE_ERROR). Without it the body is kept in HttpResponse::body,
  // at most max_body bytes.
  std::function<bool(long status, std::span<const std::byte>)> on_body;
  std::size_t max_body = 16U * 1024U * 1024U;
  std::string user_agent = "timmd/0.1";
  // Opens a new connection instead of reusing one, e.g. after a stall on a reused one.
  bool fresh_connection = false;
  // False: HTTP/1.1 on a connection of its own (kept for reuse by later requests). Parallel
  // ranges need separate TCP connections, because CDNs limit the rate per connection and
  // HTTP/2 streams on one connection would share that limit.
  bool multiplex = true;
  // Polled at least once a second while the transfer runs; returning true aborts it with
  // CURLE_ABORTED_BY_CALLBACK, e.g. when another request already fetched the same bytes.
  std::function<bool()> abandon;
};

struct HttpResponse {
  CURLcode curl_code = CURLE_OK;
  std::string curl_error; // curl's message when curl_code is not CURLE_OK
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers; // names in lower case
  std::string body;
  bool body_too_large = false;
  bool stalled = false; // no byte arrived for stall_timeout (curl_code is CURLE_OPERATION_TIMEDOUT)
  bool shutdown = false; // aborted because the daemon is stopping (curl_code is CURLE_ABORTED_BY_CALLBACK)

  // Value of the last header with this name (case-insensitive); empty when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  bool transport_ok() const noexcept { return curl_code == CURLE_OK; }
};

boost::asio::awaitable<HttpResponse> perform_http(CurlMulti& multi, const HttpRequest& request);

} // namespace timmd::hub

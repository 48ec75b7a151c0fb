#include "daemon/hub/http.hpp"

#include "daemon/hub/curl_handle.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>

namespace asio = boost::asio;

namespace timmd::hub {
namespace {

std::string to_lower(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

struct Exchange {
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  CURL* easy = nullptr;
  curl_off_t last_received = -1;
  std::chrono::steady_clock::time_point last_progress = std::chrono::steady_clock::now();
  bool stalled = false;
};

// curl's own low-speed limit averages over a window of several seconds, so it notices late
// when a server sends a few bytes and then nothing. This callback checks for silence directly.
int on_transfer_info(void* user, curl_off_t, curl_off_t received, curl_off_t, curl_off_t uploaded) {
  auto* exchange = static_cast<Exchange*>(user);
  const auto now = std::chrono::steady_clock::now();
  const auto total = received + uploaded;
  if (exchange->request->abandon && exchange->request->abandon()) {
    return 1;
  }
  if (total != exchange->last_received) {
    exchange->last_received = total;
    exchange->last_progress = now;
    return 0;
  }
  if (now - exchange->last_progress > exchange->request->stall_timeout) {
    exchange->stalled = true;
    return 1;
  }
  return 0;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  const std::string_view line(data, size * count);

  if (line.starts_with("HTTP/")) {
    // A new status line starts a new response (an interim 1xx); keep only the last headers.
    exchange->response->headers.clear();
    return size * count;
  }
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    exchange->response->headers.emplace_back(to_lower(trim(line.substr(0, colon))),
                                             std::string(trim(line.substr(colon + 1))));
  }
  return size * count;
}

size_t on_write(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  const auto bytes = size * count;
  long status = 0;
  curl_easy_getinfo(exchange->easy, CURLINFO_RESPONSE_CODE, &status);

  if (exchange->request->on_body) {
    const std::span<const std::byte> piece(reinterpret_cast<const std::byte*>(data), bytes);
    return exchange->request->on_body(status, piece) ? bytes : 0;
  }

  auto& body = exchange->response->body;
  if (body.size() + bytes > exchange->request->max_body) {
    exchange->response->body_too_large = true;
    return 0;
  }
  body.append(data, bytes);
  return bytes;
}

} // namespace

std::string HttpResponse::header(std::string_view name) const {
  const auto wanted = to_lower(name);
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->first == wanted) {
      return it->second;
    }
  }
  return {};
}

bool HttpResponse::has_header(std::string_view name) const {
  const auto wanted = to_lower(name);
  return std::ranges::any_of(headers, [&](const auto& h) { return h.first == wanted; });
}

asio::awaitable<HttpResponse> perform_http(CurlMulti& multi, const HttpRequest& request) {
  HttpResponse response;
  CurlEasyPtr easy(curl_easy_init());
  if (!easy) {
    response.curl_code = CURLE_FAILED_INIT;
    response.curl_error = "curl_easy_init failed";
    co_return response;
  }

  Exchange exchange{&request, &response, easy.get()};
  char error_buffer[CURL_ERROR_SIZE] = {};

  CURL* e = easy.get();
  curl_easy_setopt(e, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(e, CURLOPT_USERAGENT, request.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (request.multiplex) {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  } else {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  }
  if (request.fresh_connection) {
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
  }
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout.count()));
  if (request.total_timeout.count() > 0) {
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(request.total_timeout.count()));
  }
  // Less than one byte per second over stall_timeout ends the transfer with
  // CURLE_OPERATION_TIMEDOUT; this also bounds the wait for the first byte.
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, static_cast<long>(request.stall_timeout.count()));
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, &on_transfer_info);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, &exchange);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &exchange);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &exchange);
  if (request.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  }

  std::string range;
  if (request.range) {
    range = std::to_string(request.range->first) + "-" + std::to_string(request.range->second);
    curl_easy_setopt(e, CURLOPT_RANGE, range.c_str());
  }

  CurlSlistPtr header_list;
  // Identity encoding keeps Content-Length equal to the real size and bytes equal to the etag's.
  for (const auto& line : request.headers) {
    header_list.reset(curl_slist_append(header_list.release(), line.c_str()));
  }
  header_list.reset(curl_slist_append(header_list.release(), "Accept-Encoding: identity"));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, header_list.get());

  response.curl_code = co_await multi.perform(e);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &response.status);
  if (exchange.stalled) {
    response.stalled = true;
    response.curl_code = CURLE_OPERATION_TIMEDOUT;
    response.curl_error = "no data received for " + std::to_string(request.stall_timeout.count()) + " s";
  } else if (response.curl_code == CURLE_ABORTED_BY_CALLBACK && multi.closed()) {
    response.shutdown = true;
    response.curl_error = "the daemon is shutting down";
  } else if (response.curl_code != CURLE_OK) {
    response.curl_error =
        error_buffer[0] != '\0' ? std::string(error_buffer) : std::string(curl_easy_strerror(response.curl_code));
  }
  co_return response;
}

} // namespace timmd::hub

#include "tests/hubserver/connection.hpp"

#include "tests/hubserver/control_routes.hpp"
#include "tests/hubserver/fault_effects.hpp"
#include "tests/hubserver/file_descriptor.hpp"
#include "tests/hubserver/url.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

namespace timmd::testhub {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto k_use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto k_idle_timeout = 120s;
constexpr auto k_write_timeout = 60s;
constexpr std::size_t k_max_request_body = 1024 * 1024;
constexpr std::size_t k_piece_size = 1024 * 1024;
// A throttled connection writes about ten pieces a second, so the rate is smooth.
constexpr std::uint64_t k_throttle_pieces_per_second = 10;

// The body faults of one response, folded together.
struct BodyPlan {
  std::optional<std::uint64_t> close_after;
  std::optional<std::uint64_t> stall_after;
  std::chrono::milliseconds stall_duration{0};
  bool wrong_bytes = false;
  std::int64_t length_delta = 0;
  bool length_mismatch = false;
};

BodyPlan plan_body(const std::vector<Fault>& faults) {
  BodyPlan plan;
  for (const auto& fault : faults) {
    switch (fault.kind) {
      case FaultKind::close_after:
        plan.close_after = std::min(plan.close_after.value_or(fault.bytes), fault.bytes);
        break;
      case FaultKind::stall:
        if (!plan.stall_after) {
          plan.stall_after = fault.after_bytes;
          plan.stall_duration = std::chrono::milliseconds(fault.ms);
        }
        break;
      case FaultKind::wrong_bytes:
        plan.wrong_bytes = true;
        break;
      case FaultKind::length_mismatch:
        plan.length_mismatch = true;
        plan.length_delta += fault.delta;
        break;
      default:
        break;
    }
  }
  return plan;
}

HttpRequest to_http_request(const http::request<http::string_body>& message, const std::string& listener) {
  HttpRequest request;
  request.listener = listener;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  const auto question = request.target.find('?');
  request.raw_path = request.target.substr(0, question);
  request.query = question == std::string::npos ? std::string() : request.target.substr(question + 1);
  for (const auto& field : message) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  request.body = message.body();
  return request;
}

std::string format_head(const HttpResponse& response, std::uint64_t content_length, bool close) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(response.status));
  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " + std::string(reason) + "\r\n";
  for (const auto& [name, value] : response.headers) {
    head += name + ": " + value + "\r\n";
  }
  head += "Content-Length: " + std::to_string(content_length) + "\r\n";
  if (close) {
    head += "Connection: close\r\n";
  }
  head += "\r\n";
  return head;
}

std::string make_request_id(std::uint64_t serial) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return fmt::format("Root=1-{:08x}-{:024x}", seconds.count(), serial);
}

// Books `bytes` on the shared link and returns how long the caller waits until they have passed.
std::chrono::steady_clock::duration book_link(ConnectionContext& context, std::size_t bytes) {
  const std::chrono::duration<double> transmission(static_cast<double>(bytes) /
                                                   static_cast<double>(context.link_bytes_per_second));
  const std::lock_guard lock(context.link_mutex);
  const auto now = std::chrono::steady_clock::now();
  context.link_free =
      std::max(context.link_free, now) + std::chrono::duration_cast<std::chrono::steady_clock::duration>(transmission);
  return context.link_free - now;
}

asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(k_use_tuple);
}

void close_stream(beast::tcp_stream& stream) {
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.socket().close(ignored);
}

// Writes the status line, headers and body, applying the body faults. Returns false when the
// connection was or must be closed.
asio::awaitable<bool> send_response(beast::tcp_stream& stream, const HttpResponse& response, const BodyPlan& plan,
                                    const FileDescriptor* file, std::optional<RequestLog::Id> log_id,
                                    bool keep_alive, ConnectionContext& context) {
  const auto body_length = response.body_length();
  const auto declared = std::max<std::int64_t>(0, static_cast<std::int64_t>(body_length) + plan.length_delta);
  const std::uint64_t to_send = response.head ? 0 : body_length;
  const auto limit = std::min(to_send, plan.close_after.value_or(to_send));
  const bool cut = plan.close_after && *plan.close_after < to_send;
  const bool close = !keep_alive || cut || plan.length_mismatch;

  // A stall after 0 bytes comes before the status line, so a client's wait for the first
  // byte of a HEAD response times out too.
  bool stalled = false;
  if (plan.stall_after && *plan.stall_after == 0) {
    co_await sleep_for(plan.stall_duration);
    stalled = true;
  }

  const auto head = format_head(response, static_cast<std::uint64_t>(declared), close);
  stream.expires_after(k_write_timeout);
  auto [head_error, head_written] = co_await asio::async_write(stream, asio::buffer(head), k_use_tuple);
  if (head_error) {
    co_return false;
  }

  std::size_t piece_size = k_piece_size;
  for (const auto rate : {context.throttle_bytes_per_second, context.link_bytes_per_second}) {
    if (rate != 0) {
      piece_size =
          static_cast<std::size_t>(std::clamp<std::uint64_t>(rate / k_throttle_pieces_per_second, 1, piece_size));
    }
  }
  std::vector<char> buffer(std::min<std::uint64_t>(piece_size, std::max<std::uint64_t>(limit, 1)));
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t sent = 0;
  while (sent < limit) {
    if (plan.stall_after && !stalled && sent >= *plan.stall_after) {
      co_await sleep_for(plan.stall_duration);
      stalled = true;
    }
    auto size = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), limit - sent));
    if (plan.stall_after && !stalled) {
      size = static_cast<std::size_t>(std::min<std::uint64_t>(size, *plan.stall_after - sent));
    }

    if (file != nullptr) {
      const auto read = file->read_at(response.file->offset + sent, buffer.data(), size);
      if (read != size) {
        spdlog::error("{} shrank while it was sent", response.file->path.string());
        close_stream(stream);
        co_return false;
      }
    } else {
      std::copy_n(response.text.data() + sent, size, buffer.data());
    }
    if (plan.wrong_bytes) {
      buffer[0] = static_cast<char>(~static_cast<unsigned char>(buffer[0]));
    }

    if (context.throttle_bytes_per_second != 0) {
      // Wait until this piece is due, so no more than rate * elapsed bytes are ever out.
      const std::chrono::duration<double> offset(static_cast<double>(sent + size) /
                                                 static_cast<double>(context.throttle_bytes_per_second));
      const auto due = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(offset);
      if (const auto now = std::chrono::steady_clock::now(); due > now) {
        co_await sleep_for(due - now);
      }
    }

    if (context.link_bytes_per_second != 0) {
      co_await sleep_for(book_link(context, size));
    }

    if (log_id) {
      context.log.add_body_bytes(*log_id, size);
    }
    stream.expires_after(k_write_timeout);
    auto [error, written] = co_await asio::async_write(stream, asio::buffer(buffer.data(), size), k_use_tuple);
    if (error) {
      if (log_id) {
        context.log.remove_body_bytes(*log_id, size - written);
      }
      co_return false;
    }
    sent += size;
  }
  if (plan.stall_after && !stalled && !response.head) {
    co_await sleep_for(plan.stall_duration);
  }

  if (close) {
    close_stream(stream);
    co_return false;
  }
  co_return true;
}

// Routes one request and sends the response. Returns false when the connection is closed.
asio::awaitable<bool> answer(beast::tcp_stream& stream, HttpRequest request, bool keep_alive,
                             ConnectionContext& context) {
  const auto request_id = make_request_id(context.next_request_id++);
  if (request.listener == "api") {
    if (auto control = handle_control_request(request, context.faults, context.log)) {
      control->set_header("X-Request-Id", request_id);
      control->head = request.method == "HEAD";
      co_return co_await send_response(stream, *control, {}, nullptr, std::nullopt, keep_alive, context);
    }
  }

  RequestRecord record;
  record.listener = request.listener;
  record.method = request.method;
  record.target = request.target;
  record.path = percent_decode(request.raw_path).value_or(request.raw_path);
  record.query = request.query;
  record.range = request.header("Range");
  record.authorization = request.header("Authorization");
  record.accept_encoding = request.header("Accept-Encoding");
  record.user_agent = request.header("User-Agent");
  record.accept = request.header("Accept");
  record.trace_id = request.header("X-Amzn-Trace-Id");

  const auto faults = context.faults.take_matching(request.listener, request.method, request.raw_path, record.path);
  HttpResponse response;
  if (auto replacement = replacement_response(request, faults)) {
    response = std::move(*replacement);
  } else {
    apply_request_faults(request, faults);
    response = context.router.route(request);
  }
  apply_header_faults(response, faults);
  response.set_header("X-Request-Id", request_id);
  response.head = request.method == "HEAD";

  std::unique_ptr<FileDescriptor> file;
  if (response.file && !response.head) {
    try {
      file = std::make_unique<FileDescriptor>(response.file->path);
    } catch (const std::exception& error) {
      spdlog::error("cannot serve {}: {}", record.path, error.what());
      response = error_response(500, "", "cannot read the file");
      response.set_header("X-Request-Id", request_id);
    }
  }

  record.status = response.status;
  const auto log_id = context.log.add(record);
  const auto plan = plan_body(faults);
  const bool open = co_await send_response(stream, response, plan, file.get(), log_id, keep_alive, context);
  spdlog::debug("{} {} {} -> {} ({} faults){}", request.listener, request.method, record.path, response.status,
                faults.size(), open ? "" : ", connection closed");
  co_return open;
}

} // namespace

asio::awaitable<void> serve_connection(tcp::socket socket, std::string listener, ConnectionContext& context) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(k_max_request_body);
    stream.expires_after(k_idle_timeout);
    auto [error, bytes] = co_await http::async_read(stream, buffer, parser, k_use_tuple);
    if (error) {
      if (error != http::error::end_of_stream && error != asio::error::connection_reset &&
          error != beast::error::timeout && error != asio::error::operation_aborted) {
        spdlog::debug("{} connection: cannot read a request: {}", listener, error.message());
      }
      break;
    }

    const auto message = parser.release();
    const bool keep_alive = message.keep_alive();
    const bool open = co_await answer(stream, to_http_request(message, listener), keep_alive, context);
    if (!open) {
      co_return;
    }
  }
  close_stream(stream);
}

} // namespace timmd::testhub

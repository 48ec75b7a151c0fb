#include "daemon/server/frame_io.hpp"

#include "proto/frame.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <spdlog/spdlog.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include <sys/socket.h>

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace timmd::server {
namespace {

constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);

// Reads exactly buffer.size() bytes or gives up at the deadline.
template <class Buffer>
asio::awaitable<ReadStatus> read_exactly(UnixSocket& socket, Buffer buffer, std::chrono::seconds timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(timeout);
  auto outcome = co_await (asio::async_read(socket, buffer, k_tuple) || timer.async_wait(k_tuple));
  if (outcome.index() == 1) {
    co_return ReadStatus::timed_out;
  }
  const auto [ec, bytes] = std::get<0>(outcome);
  co_return ec ? ReadStatus::closed : ReadStatus::ok;
}

// The frame of a response, or nullopt after logging why it cannot be sent (a result over the
// frame limit).
std::optional<std::string> encode_response(const nlohmann::json& message) {
  auto frame = proto::encode_frame(message);
  if (!frame) {
    spdlog::error("cannot encode a response frame: {}", frame.error().message);
    return std::nullopt;
  }
  return std::move(*frame);
}

} // namespace

asio::awaitable<ReadResult> read_frame(UnixSocket& socket, std::chrono::seconds idle_timeout,
                                       std::chrono::seconds frame_timeout) {
  ReadResult result;
  std::array<std::byte, proto::k_frame_header_size> header{};
  result.status = co_await read_exactly(socket, asio::buffer(header), idle_timeout);
  if (result.status != ReadStatus::ok) {
    co_return result;
  }

  const auto length = proto::decode_frame_length(header);
  if (!length) {
    result.status = ReadStatus::too_large;
    result.error = length.error();
    co_return result;
  }

  std::string payload(*length, '\0');
  result.status = co_await read_exactly(socket, asio::buffer(payload), frame_timeout);
  if (result.status != ReadStatus::ok) {
    co_return result;
  }

  auto message = proto::decode_frame_payload(payload);
  if (!message) {
    result.status = ReadStatus::invalid;
    result.error = message.error();
    co_return result;
  }
  result.message = std::move(*message);
  co_return result;
}

asio::awaitable<bool> write_frame(UnixSocket& socket, const nlohmann::json& message, std::chrono::seconds timeout) {
  auto frame = encode_response(message);
  if (!frame) {
    co_return false;
  }

  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(timeout);
  auto outcome = co_await (asio::async_write(socket, asio::buffer(*frame), k_tuple) || timer.async_wait(k_tuple));
  if (outcome.index() == 1) {
    co_return false;
  }
  const auto [ec, bytes] = std::get<0>(outcome);
  co_return !ec;
}

asio::awaitable<bool> write_frame_with_fd(UnixSocket& socket, const nlohmann::json& message, int fd,
                                          std::chrono::seconds timeout) {
  auto frame = encode_response(message);
  if (!frame) {
    co_return false;
  }

  // The descriptor travels with the first sendmsg that moves any byte; Asio has no ancillary
  // data support, so that first send is a direct sendmsg once the socket is writable.
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(timeout);
  std::size_t sent = 0;
  while (sent == 0) {
    auto ready = co_await (socket.async_wait(UnixSocket::wait_write, k_tuple) || timer.async_wait(k_tuple));
    if (ready.index() == 1 || std::get<0>(ready) != std::tuple<boost::system::error_code>{}) {
      co_return false;
    }
    iovec data{frame->data(), frame->size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
    msghdr header{};
    header.msg_iov = &data;
    header.msg_iovlen = 1;
    header.msg_control = control.data();
    header.msg_controllen = control.size();
    cmsghdr* rights = CMSG_FIRSTHDR(&header);
    rights->cmsg_level = SOL_SOCKET;
    rights->cmsg_type = SCM_RIGHTS;
    rights->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(rights), &fd, sizeof(int));
    const auto result = ::sendmsg(socket.native_handle(), &header, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (result < 0 && (errno == EAGAIN || errno == EINTR)) {
      continue;
    }
    if (result <= 0) {
      co_return false;
    }
    sent = static_cast<std::size_t>(result);
  }
  if (sent == frame->size()) {
    co_return true;
  }

  const auto rest = asio::buffer(frame->data() + sent, frame->size() - sent);
  auto outcome = co_await (asio::async_write(socket, rest, k_tuple) || timer.async_wait(k_tuple));
  if (outcome.index() == 1) {
    co_return false;
  }
  const auto [ec, bytes] = std::get<0>(outcome);
  co_return !ec;
}

} // namespace timmd::server

#include "daemon/hub/curl_multi.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>

namespace asio = boost::asio;

namespace timmd::hub {

struct CurlMulti::Socket {
  Socket(asio::any_io_executor executor, curl_socket_t fd_) : fd(fd_), descriptor(executor) { descriptor.assign(fd_); }

  curl_socket_t fd;
  asio::posix::stream_descriptor descriptor;
  int what = 0;
  bool read_pending = false;
  bool write_pending = false;
  bool removed = false;
};

struct CurlMulti::Transfer {
  explicit Transfer(asio::any_io_executor executor) : signal(executor) {
    signal.expires_at(asio::steady_timer::time_point::max());
  }

  // Woken by cancel() when the transfer finishes; a wake-up without `done` is a cancellation.
  asio::steady_timer signal;
  CURLcode code = CURLE_OK;
  bool done = false;
};

CurlMulti::CurlMulti(asio::any_io_executor executor)
    : m_executor(std::move(executor)), m_multi(curl_multi_init()), m_timer(m_executor) {
  if (!m_multi) {
    throw std::runtime_error("curl_multi_init failed");
  }
  curl_multi_setopt(m_multi.get(), CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket);
  curl_multi_setopt(m_multi.get(), CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(m_multi.get(), CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer);
  curl_multi_setopt(m_multi.get(), CURLMOPT_TIMERDATA, this);
}

CurlMulti::~CurlMulti() {
  abort_all();
  for (auto& [fd, socket] : m_sockets) {
    socket->removed = true;
    // release() deregisters the descriptor without closing it: the fd belongs to curl.
    socket->descriptor.release();
  }
  m_sockets.clear();
  m_timer.cancel();
}

asio::awaitable<CURLcode> CurlMulti::perform(CURL* easy) {
  // A coroutine that a curl callback started runs inside curl_multi_socket_action, where curl
  // rejects curl_multi_add_handle with CURLM_RECURSIVE_API_CALL. Going through the executor's
  // queue first lets that call return.
  co_await asio::post(m_executor, asio::use_awaitable);
  if (m_closed) {
    co_return CURLE_ABORTED_BY_CALLBACK;
  }

  auto transfer = std::make_shared<Transfer>(m_executor);
  m_transfers[easy] = transfer;

  if (const auto added = curl_multi_add_handle(m_multi.get(), easy); added != CURLM_OK) {
    spdlog::error("curl_multi_add_handle failed: {}", curl_multi_strerror(added));
    m_transfers.erase(easy);
    co_return CURLE_FAILED_INIT;
  }

  co_await transfer->signal.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!transfer->done) {
    // Cancelled by the caller: take the handle out so curl stops using it.
    curl_multi_remove_handle(m_multi.get(), easy);
    m_transfers.erase(easy);
    co_return CURLE_ABORTED_BY_CALLBACK;
  }
  co_return transfer->code;
}

void CurlMulti::abort_all() {
  m_closed = true;
  auto transfers = std::move(m_transfers);
  m_transfers.clear();
  for (auto& [easy, transfer] : transfers) {
    curl_multi_remove_handle(m_multi.get(), easy);
    transfer->code = CURLE_ABORTED_BY_CALLBACK;
    transfer->done = true;
    transfer->signal.cancel();
  }
}

int CurlMulti::on_socket(CURL*, curl_socket_t fd, int what, void* self_ptr, void*) {
  auto* self = static_cast<CurlMulti*>(self_ptr);

  if (what == CURL_POLL_REMOVE) {
    auto it = self->m_sockets.find(fd);
    if (it != self->m_sockets.end()) {
      it->second->removed = true;
      it->second->descriptor.release();
      self->m_sockets.erase(it);
    }
    return 0;
  }

  auto it = self->m_sockets.find(fd);
  if (it == self->m_sockets.end()) {
    it = self->m_sockets.emplace(fd, std::make_shared<Socket>(self->m_executor, fd)).first;
  }
  it->second->what = what;
  self->watch(it->second);
  return 0;
}

int CurlMulti::on_timer(CURLM*, long timeout_ms, void* self_ptr) {
  auto* self = static_cast<CurlMulti*>(self_ptr);
  self->m_timer.cancel();
  if (timeout_ms < 0) {
    return 0;
  }

  // curl's documentation forbids calling socket_action from inside this callback, so even a
  // zero timeout goes through the timer.
  self->m_timer.expires_after(std::chrono::milliseconds(timeout_ms));
  self->m_timer.async_wait([self](boost::system::error_code ec) {
    if (ec) {
      return;
    }
    self->socket_action(CURL_SOCKET_TIMEOUT, 0);
  });
  return 0;
}

void CurlMulti::watch(const std::shared_ptr<Socket>& socket) {
  if ((socket->what & CURL_POLL_IN) != 0 && !socket->read_pending) {
    arm(socket, true);
  }
  if ((socket->what & CURL_POLL_OUT) != 0 && !socket->write_pending) {
    arm(socket, false);
  }
}

void CurlMulti::arm(const std::shared_ptr<Socket>& socket, bool for_read) {
  (for_read ? socket->read_pending : socket->write_pending) = true;
  const auto wait_type = for_read ? asio::posix::descriptor_base::wait_read : asio::posix::descriptor_base::wait_write;

  socket->descriptor.async_wait(wait_type, [this, socket, for_read](boost::system::error_code ec) {
    // Check the error first: after release() or destruction `this` may be gone.
    if (ec || socket->removed) {
      (for_read ? socket->read_pending : socket->write_pending) = false;
      return;
    }
    (for_read ? socket->read_pending : socket->write_pending) = false;
    socket_action(socket->fd, for_read ? CURL_CSELECT_IN : CURL_CSELECT_OUT);
    if (!socket->removed) {
      watch(socket);
    }
  });
}

void CurlMulti::socket_action(curl_socket_t fd, int events) {
  int running = 0;
  const auto rc = curl_multi_socket_action(m_multi.get(), fd, events, &running);
  if (rc != CURLM_OK) {
    spdlog::error("curl_multi_socket_action failed: {}", curl_multi_strerror(rc));
  }
  collect_finished();
}

void CurlMulti::collect_finished() {
  int pending = 0;
  while (CURLMsg* message = curl_multi_info_read(m_multi.get(), &pending)) {
    if (message->msg == CURLMSG_DONE) {
      finish(message->easy_handle, message->data.result);
    }
  }
}

void CurlMulti::finish(CURL* easy, CURLcode code) {
  curl_multi_remove_handle(m_multi.get(), easy);
  auto it = m_transfers.find(easy);
  if (it == m_transfers.end()) {
    return;
  }
  auto transfer = it->second;
  m_transfers.erase(it);
  transfer->code = code;
  transfer->done = true;
  transfer->signal.cancel();
}

} // namespace timmd::hub

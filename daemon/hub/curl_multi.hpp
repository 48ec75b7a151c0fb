// libcurl's multi interface driven by an Asio executor: curl's sockets are watched with
// stream_descriptor waits and its timeout with a steady_timer, so transfers never block the
// I/O thread.
//
// Thread safety: every member must be called on the executor's thread (the daemon runs its
// networking io_context on one thread). Write and header callbacks of the easy handles run
// there too.
#pragma once

#include "daemon/hub/curl_handle.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <curl/curl.h>

#include <map>
#include <memory>

namespace timmd::hub {

class CurlMulti {
public:
  explicit CurlMulti(boost::asio::any_io_executor executor);
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  // Runs one transfer to completion and returns its result code. The caller keeps `easy` alive
  // until the returned awaitable completes. Cancelling the awaiting coroutine (per-operation
  // cancellation) removes the handle and returns CURLE_ABORTED_BY_CALLBACK.
  boost::asio::awaitable<CURLcode> perform(CURL* easy);

  // Aborts every running transfer with CURLE_ABORTED_BY_CALLBACK and closes the multi, so a
  // later perform() returns that code at once and retry loops end. Used at shutdown.
  void abort_all();

  // True after abort_all().
  bool closed() const noexcept { return m_closed; }

  std::size_t running() const noexcept { return m_transfers.size(); }

private:
  struct Socket;
  struct Transfer;

  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socket_state);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);

  void watch(const std::shared_ptr<Socket>& socket);
  void arm(const std::shared_ptr<Socket>& socket, bool for_read);
  void socket_action(curl_socket_t fd, int events);
  void collect_finished();
  void finish(CURL* easy, CURLcode code);

  boost::asio::any_io_executor m_executor;
  CurlMultiPtr m_multi;
  boost::asio::steady_timer m_timer;
  std::map<curl_socket_t, std::shared_ptr<Socket>> m_sockets;
  std::map<CURL*, std::shared_ptr<Transfer>> m_transfers;
  bool m_closed = false;
};

} // namespace timmd::hub

#include "daemon/hub/curl_multi.hpp"

#include "daemon/hub/http.hpp"
#include "daemon/hub/hub_url.hpp"
#include "hub_test_support.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace timmd::hub;
using namespace timmd::hub::testing;

namespace {

HttpRequest get_request(std::string url) {
  HttpRequest request;
  request.url = std::move(url);
  request.connect_timeout = std::chrono::seconds(5);
  request.stall_timeout = std::chrono::seconds(20);
  return request;
}

// A GET of org/styles' config.json, whose status line the test Hub delays by 20 s.
HttpRequest stalled_request(const HubFixture& hub) {
  hub.add_fault(
      {{"match", {{"path", "*/config.json"}}}, {"count", 0}, {"kind", "stall"}, {"after_bytes", 0}, {"ms", 20000}});
  return get_request(resolve_url(hub.server->endpoint(), "org/styles", "main", "config.json"));
}

// Waits a moment so that the transfers have started. The outcome does not depend on the length.
asio::awaitable<void> short_pause() {
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(200));
  co_await timer.async_wait(asio::use_awaitable);
}

} // namespace

TEST_CASE("curl_multi: parallel transfers complete") {
  HubFixture hub;
  const std::vector<std::string> paths = {"config.json", "sub/data.txt", "names/with space.txt", "names/a#b%c.txt"};
  std::vector<HttpResponse> responses(paths.size() * 2);
  std::size_t finished = 0;
  std::size_t running_after = 1;

  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    const auto executor = co_await asio::this_coro::executor;
    for (std::size_t i = 0; i < responses.size(); ++i) {
      auto request = get_request(resolve_url(hub.server->endpoint(), "org/model", "main", paths[i % paths.size()]));
      auto fetch = [&, i, request]() -> asio::awaitable<void> {
        responses[i] = co_await perform_http(multi, request);
        if (++finished == responses.size()) {
          running_after = multi.running();
        }
      };
      asio::co_spawn(executor, fetch, asio::detached);
    }
  });

  for (const auto& response : responses) {
    CHECK(response.transport_ok());
    CHECK(response.status == 307);
  }
  CHECK(running_after == 0);
}

TEST_CASE("curl_multi: cancelled transfer aborted") {
  HubFixture hub;
  const auto request = stalled_request(hub);
  HttpResponse response;
  std::size_t running_after = 1;
  asio::cancellation_signal signal; // outlives the transfer's coroutine, which uses its slot

  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    auto fetch = [&]() -> asio::awaitable<void> {
      response = co_await perform_http(multi, request);
      running_after = multi.running();
    };
    const auto executor = co_await asio::this_coro::executor;
    asio::co_spawn(executor, fetch, asio::bind_cancellation_slot(signal.slot(), asio::detached));

    co_await short_pause();
    signal.emit(asio::cancellation_type::terminal);
  });

  CHECK(response.curl_code == CURLE_ABORTED_BY_CALLBACK);
  CHECK(running_after == 0);
}

TEST_CASE("curl_multi: abort_all ends transfers") {
  HubFixture hub;
  const auto request = stalled_request(hub);
  std::vector<HttpResponse> responses(2);
  std::size_t running_after = 1;
  HttpResponse late;

  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    const auto executor = co_await asio::this_coro::executor;
    for (std::size_t i = 0; i < responses.size(); ++i) {
      auto fetch = [&, i]() -> asio::awaitable<void> {
        responses[i] = co_await perform_http(multi, request);
        running_after = multi.running();
      };
      asio::co_spawn(executor, fetch, asio::detached);
    }
    co_await short_pause();
    multi.abort_all();

    // The multi stays closed, so a retry loop ends instead of starting the transfer again.
    late = co_await perform_http(multi, request);
  });

  for (const auto& response : responses) {
    CHECK(response.curl_code == CURLE_ABORTED_BY_CALLBACK);
    CHECK(response.shutdown);
  }
  CHECK(running_after == 0);
  CHECK(late.curl_code == CURLE_ABORTED_BY_CALLBACK);
  CHECK(late.shutdown);
}

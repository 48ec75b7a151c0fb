#include "daemon/hub/http.hpp"

#include "daemon/hub/hub_url.hpp"
#include "hub_test_support.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <string>

namespace asio = boost::asio;
using namespace timmd::hub;
using namespace timmd::hub::testing;

namespace {

HttpResponse perform(const HttpRequest& request) {
  HttpResponse response;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> { response = co_await perform_http(multi, request); });
  return response;
}

HttpRequest request_for(std::string method, std::string url) {
  HttpRequest request;
  request.method = std::move(method);
  request.url = std::move(url);
  request.connect_timeout = std::chrono::seconds(5);
  request.stall_timeout = std::chrono::seconds(10);
  return request;
}

// The signed CDN URL of org/model's model.safetensors, from the 302 of its resolve URL.
std::string cdn_url(const HubFixture& hub) {
  const auto url = resolve_url(hub.server->endpoint(), "org/model", "main", "model.safetensors");
  const auto response = perform(request_for("HEAD", url));
  REQUIRE(response.status == 302);
  return response.header("Location");
}

} // namespace

TEST_CASE("http: GET keeps body and headers") {
  HubFixture hub;
  const auto response = perform(request_for("GET", hub.server->endpoint() + "/api/models/org/model"));
  CHECK(response.transport_ok());
  CHECK(response.status == 200);
  CHECK(response.body.find("\"org/model\"") != std::string::npos);
  CHECK(response.header("Content-Type").find("json") != std::string::npos);
  CHECK(response.has_header("x-request-id"));
  CHECK_FALSE(response.has_header("x-no-such-header"));
}

TEST_CASE("http: HEAD reads no body") {
  HubFixture hub;
  const auto url = resolve_url(hub.server->endpoint(), "org/styles", "main", "config.json");
  const auto response = perform(request_for("HEAD", url));
  CHECK(response.status == 200);
  CHECK(response.body.empty());
  CHECK(response.header("content-length") == "3");
}

TEST_CASE("http: redirect not followed") {
  HubFixture hub;
  const auto url = resolve_url(hub.server->endpoint(), "org/model", "main", "model.safetensors");
  const auto response = perform(request_for("HEAD", url));
  CHECK(response.status == 302);
  CHECK(response.header("location").starts_with(hub.server->cdn_endpoint()));
  CHECK(hub.server->requests().size() == 1);
}

TEST_CASE("http: byte range") {
  HubFixture hub;
  auto request = request_for("GET", cdn_url(hub));
  request.range = std::pair<std::uint64_t, std::uint64_t>(10, 19);
  const auto response = perform(request);
  CHECK(response.status == 206);
  CHECK(response.body == hub.model_bytes.substr(10, 10));
}

TEST_CASE("http: identity encoding requested") {
  HubFixture hub;
  const auto response = perform(request_for("GET", hub.server->endpoint() + "/api/models/org/model"));
  REQUIRE(response.status == 200);
  const auto records = hub.server->requests();
  REQUIRE(records.size() == 1);
  CHECK(records[0].accept_encoding == "identity");
  CHECK(records[0].user_agent == "timmd/0.1");
}

TEST_CASE("http: body over limit stopped") {
  HubFixture hub;
  auto request = request_for("GET", cdn_url(hub));
  request.max_body = 1000;
  const auto response = perform(request);
  CHECK(response.curl_code == CURLE_WRITE_ERROR);
  CHECK(response.body_too_large);
  CHECK(response.body.size() <= 1000);
}

TEST_CASE("http: on_body receives every byte") {
  HubFixture hub;
  auto request = request_for("GET", cdn_url(hub));
  std::string received;
  long seen_status = 0;
  request.on_body = [&](long status, std::span<const std::byte> piece) {
    seen_status = status;
    received.append(reinterpret_cast<const char*>(piece.data()), piece.size());
    return true;
  };
  const auto response = perform(request);
  CHECK(response.transport_ok());
  CHECK(seen_status == 200);
  CHECK(received == hub.model_bytes);
  CHECK(response.body.empty());
}

TEST_CASE("http: on_body false aborts") {
  HubFixture hub;
  auto request = request_for("GET", cdn_url(hub));
  request.on_body = [](long, std::span<const std::byte>) { return false; };
  const auto response = perform(request);
  CHECK(response.curl_code == CURLE_WRITE_ERROR);
  CHECK_FALSE(response.curl_error.empty());
}

TEST_CASE("http: stalled body times out") {
  HubFixture hub;
  const auto url = cdn_url(hub);
  hub.add_fault({{"match", {{"listener", "cdn"}}}, {"kind", "stall"}, {"after_bytes", 1000}, {"ms", 8000}});
  auto request = request_for("GET", url);
  request.stall_timeout = std::chrono::seconds(1);
  const auto response = perform(request);
  CHECK(response.curl_code == CURLE_OPERATION_TIMEDOUT);
  CHECK(response.curl_error == "no data received for 1 s");
}

TEST_CASE("http: refused connection reported") {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  const auto port = acceptor.local_endpoint().port();
  acceptor.close();

  const auto response = perform(request_for("GET", "http://127.0.0.1:" + std::to_string(port) + "/"));
  CHECK(response.curl_code == CURLE_COULDNT_CONNECT);
  CHECK_FALSE(response.curl_error.empty());
  CHECK(response.status == 0);
}

TEST_CASE("http: other schemes rejected") {
  const auto response = perform(request_for("GET", "file:///etc/hostname"));
  CHECK(response.curl_code == CURLE_UNSUPPORTED_PROTOCOL);
}

#include "daemon/hub/retry_policy.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <utility>

using namespace std::chrono_literals;
using timmd::hub::HttpResponse;
using timmd::hub::RetryPolicy;
using timmd::hub::server_requested_delay;

namespace {

HttpResponse with_status(long status) {
  HttpResponse response;
  response.status = status;
  return response;
}

HttpResponse with_curl_code(CURLcode code) {
  HttpResponse response;
  response.curl_code = code;
  response.curl_error = curl_easy_strerror(code);
  return response;
}

HttpResponse with_header(long status, std::string name, std::string value) {
  auto response = with_status(status);
  response.headers.emplace_back(std::move(name), std::move(value));
  return response;
}

RetryPolicy fixed_jitter(double factor) {
  RetryPolicy policy;
  policy.base_delay = 1000ms;
  policy.max_delay = 8000ms;
  policy.max_server_delay = 60s;
  policy.jitter = [factor] { return factor; };
  return policy;
}

} // namespace

TEST_CASE("retry: transient statuses retried") {
  for (const long status : {408L, 429L, 500L, 502L, 503L, 504L}) {
    CAPTURE(status);
    CHECK(RetryPolicy::is_retryable(with_status(status)));
  }
}

TEST_CASE("retry: final statuses not retried") {
  for (const long status : {200L, 206L, 302L, 307L, 400L, 401L, 403L, 404L, 416L, 501L}) {
    CAPTURE(status);
    CHECK_FALSE(RetryPolicy::is_retryable(with_status(status)));
  }
}

TEST_CASE("retry: transport failures retried") {
  for (const auto code : {CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_OPERATION_TIMEDOUT,
                          CURLE_PARTIAL_FILE, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_HTTP2,
                          CURLE_HTTP2_STREAM, CURLE_SSL_CONNECT_ERROR}) {
    CAPTURE(code);
    CHECK(RetryPolicy::is_retryable(with_curl_code(code)));
  }
}

TEST_CASE("retry: local curl errors not retried") {
  for (const auto code : {CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_WRITE_ERROR,
                          CURLE_ABORTED_BY_CALLBACK, CURLE_PEER_FAILED_VERIFICATION, CURLE_OUT_OF_MEMORY}) {
    CAPTURE(code);
    CHECK_FALSE(RetryPolicy::is_retryable(with_curl_code(code)));
  }
}

TEST_CASE("retry: transport failure wins over status") {
  auto response = with_curl_code(CURLE_WRITE_ERROR);
  response.status = 503;
  CHECK_FALSE(RetryPolicy::is_retryable(response));
}

TEST_CASE("retry: delay doubles per attempt") {
  const auto policy = fixed_jitter(1.0);
  const auto failed = with_status(503);
  CHECK(policy.delay_after(1, failed) == 1000ms);
  CHECK(policy.delay_after(2, failed) == 2000ms);
  CHECK(policy.delay_after(3, failed) == 4000ms);
  CHECK(policy.delay_after(4, failed) == 8000ms);
}

TEST_CASE("retry: delay capped at max_delay") {
  const auto policy = fixed_jitter(1.0);
  const auto failed = with_status(503);
  CHECK(policy.delay_after(5, failed) == 8000ms);
  CHECK(policy.delay_after(40, failed) == 8000ms);
  CHECK(policy.delay_after(1000, failed) == 8000ms);
}

TEST_CASE("retry: jitter scales delay") {
  const auto policy = fixed_jitter(0.5);
  const auto failed = with_status(500);
  CHECK(policy.delay_after(1, failed) == 500ms);
  CHECK(policy.delay_after(3, failed) == 2000ms);
  CHECK(policy.delay_after(9, failed) == 4000ms);
}

TEST_CASE("retry: attempt below one uses base delay") {
  const auto policy = fixed_jitter(1.0);
  CHECK(policy.delay_after(0, with_status(503)) == 1000ms);
  CHECK(policy.delay_after(-3, with_status(503)) == 1000ms);
}

TEST_CASE("retry: default jitter within range") {
  RetryPolicy policy;
  const auto failed = with_status(503);
  for (int i = 0; i < 200; ++i) {
    const auto delay = policy.delay_after(2, failed);
    CHECK(delay >= 1000ms);
    CHECK(delay <= 2000ms);
  }
}

TEST_CASE("retry: Retry-After seconds used") {
  const auto policy = fixed_jitter(0.5);
  const auto response = with_header(429, "retry-after", "7");
  CHECK(server_requested_delay(response) == std::optional<std::chrono::seconds>(7s));
  CHECK(policy.delay_after(1, response) == 7000ms);
}

TEST_CASE("retry: Retry-After zero means no wait") {
  const auto policy = fixed_jitter(1.0);
  const auto response = with_header(503, "retry-after", "0");
  CHECK(policy.delay_after(3, response) == 0ms);
}

TEST_CASE("retry: Retry-After capped") {
  const auto policy = fixed_jitter(1.0);
  const auto response = with_header(429, "retry-after", "3600");
  CHECK(policy.delay_after(1, response) == 60s);
}

TEST_CASE("retry: Retry-After HTTP-date ignored") {
  const auto policy = fixed_jitter(1.0);
  const auto response = with_header(503, "retry-after", "Wed, 21 Oct 2026 07:28:00 GMT");
  CHECK_FALSE(server_requested_delay(response).has_value());
  CHECK(policy.delay_after(2, response) == 2000ms);
}

TEST_CASE("retry: negative Retry-After ignored") {
  const auto response = with_header(503, "retry-after", "-5");
  CHECK_FALSE(server_requested_delay(response).has_value());
}

TEST_CASE("retry: RateLimit reset used") {
  const auto policy = fixed_jitter(1.0);
  const auto response = with_header(429, "ratelimit", "\"resolvers\";r=0;t=12");
  // server_requested_delay waits one second past the reset time.
  CHECK(server_requested_delay(response) == std::optional<std::chrono::seconds>(13s));
  CHECK(policy.delay_after(1, response) == 13s);
}

TEST_CASE("retry: RateLimit with spaces parsed") {
  const auto response = with_header(429, "ratelimit", "\"api\"; r=0; t=4");
  CHECK(server_requested_delay(response) == std::optional<std::chrono::seconds>(5s));
}

TEST_CASE("retry: RateLimit with quota left ignored") {
  const auto policy = fixed_jitter(1.0);
  const auto response = with_header(503, "ratelimit", "\"resolvers\";r=12;t=40");
  CHECK_FALSE(server_requested_delay(response).has_value());
  CHECK(policy.delay_after(1, response) == 1000ms);
}

TEST_CASE("retry: RateLimit without reset ignored") {
  const auto response = with_header(429, "ratelimit", "\"resolvers\";r=0");
  CHECK_FALSE(server_requested_delay(response).has_value());
}

TEST_CASE("retry: RateLimit wins over Retry-After") {
  auto response = with_header(429, "ratelimit", "\"resolvers\";r=0;t=20");
  response.headers.emplace_back("retry-after", "3");
  CHECK(server_requested_delay(response) == std::optional<std::chrono::seconds>(21s));
}

TEST_CASE("retry: RateLimit capped") {
  const auto policy = fixed_jitter(1.0);
  const auto response = with_header(429, "ratelimit", "\"resolvers\";r=0;t=86400");
  CHECK(policy.delay_after(1, response) == 60s);
}

TEST_CASE("retry: no server delay without headers") {
  CHECK_FALSE(server_requested_delay(with_status(503)).has_value());
}

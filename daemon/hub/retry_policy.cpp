#include "daemon/hub/retry_policy.hpp"

#include <algorithm>
#include <charconv>
#include <random>
#include <string>

namespace timmd::hub {
namespace {

std::optional<long> parse_long(std::string_view text) {
  long value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr == text.data()) {
    return std::nullopt;
  }
  return value;
}

// Reads `key=N` from a structured RateLimit header such as `"resolvers";r=0;t=172`.
std::optional<long> ratelimit_param(const std::string& header, std::string_view key) {
  std::size_t pos = 0;
  while ((pos = header.find(';', pos)) != std::string::npos) {
    ++pos;
    while (pos < header.size() && header[pos] == ' ') {
      ++pos;
    }
    if (header.compare(pos, key.size(), key) == 0 && pos + key.size() < header.size() &&
        header[pos + key.size()] == '=') {
      return parse_long(std::string_view(header).substr(pos + key.size() + 1));
    }
  }
  return std::nullopt;
}

double default_jitter() {
  thread_local std::mt19937 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.5, 1.0)(engine);
}

} // namespace

bool RetryPolicy::is_retryable(const HttpResponse& response) {
  if (!response.transport_ok()) {
    switch (response.curl_code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
    }
  }
  switch (response.status) {
  case 408:
  case 429:
  case 500:
  case 502:
  case 503:
  case 504:
    return true;
  default:
    return false;
  }
}

std::chrono::milliseconds RetryPolicy::delay_after(int attempt, const HttpResponse& response) const {
  if (const auto server = server_requested_delay(response)) {
    const auto wanted = std::chrono::duration_cast<std::chrono::milliseconds>(*server);
    return std::min(wanted, max_server_delay);
  }

  const int exponent = std::clamp(attempt - 1, 0, 20);
  const auto raw = base_delay * (1LL << exponent);
  const auto capped = std::min<std::chrono::milliseconds>(raw, max_delay);
  const double factor = jitter ? jitter() : default_jitter();
  return std::chrono::milliseconds(static_cast<long long>(static_cast<double>(capped.count()) * factor));
}

std::optional<std::chrono::seconds> server_requested_delay(const HttpResponse& response) {
  const auto ratelimit = response.header("ratelimit");
  if (!ratelimit.empty()) {
    const auto remaining = ratelimit_param(ratelimit, "r");
    const auto reset = ratelimit_param(ratelimit, "t");
    if (remaining && *remaining == 0 && reset && *reset >= 0) {
      return std::chrono::seconds(*reset + 1);
    }
  }

  const auto retry_after = response.header("retry-after");
  if (!retry_after.empty()) {
    if (const auto seconds = parse_long(retry_after); seconds && *seconds >= 0) {
      return std::chrono::seconds(*seconds);
    }
  }
  return std::nullopt;
}

} // namespace timmd::hub

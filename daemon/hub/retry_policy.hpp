// When and how long to wait before repeating a failed Hub request.
#pragma once

#include "daemon/hub/http.hpp"

#include <chrono>
#include <functional>
#include <optional>

namespace timmd::hub {

struct RetryPolicy {
  int max_attempts = 6; // first try included
  std::chrono::milliseconds base_delay{1000};
  std::chrono::milliseconds max_delay{8000};
  std::chrono::milliseconds max_server_delay{60'000}; // cap on Retry-After and RateLimit waits
  // Returns a factor in [0.5, 1.0) applied to the exponential delay; injected so tests need
  // no randomness.
  std::function<double()> jitter;

  // True for transport failures and the statuses the Hub uses for transient trouble
  // (408, 429, 500, 502, 503, 504).
  static bool is_retryable(const HttpResponse& response);

  // Delay before attempt `attempt + 1` (attempt counts from 1): the server's Retry-After or
  // RateLimit reset when given, else base_delay * 2^(attempt-1) with jitter, capped.
  std::chrono::milliseconds delay_after(int attempt, const HttpResponse& response) const;
};

// Seconds to wait from `Retry-After: N` or `RateLimit: "...";r=0;t=N`; nullopt when neither
// header requests a wait (HTTP dates in Retry-After are ignored).
std::optional<std::chrono::seconds> server_requested_delay(const HttpResponse& response);

} // namespace timmd::hub

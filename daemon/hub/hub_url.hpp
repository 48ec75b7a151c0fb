// URLs of the Hub's HTTP API and the origin checks that decide where the token may go.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace timmd::hub {

// Percent-encodes every byte except unreserved characters and those in `safe`.
std::string percent_encode(std::string_view text, std::string_view safe = "");

struct Origin {
  std::string scheme;
  std::string host; // lower case
  std::string port; // explicit or the scheme's default

  bool operator==(const Origin&) const = default;
};

// Scheme, host and port of an absolute http(s) URL; nullopt for anything else.
std::optional<Origin> parse_origin(std::string_view url);

// True when `location` is a redirect target without a host ("/path..."); "//host/x" is not.
bool is_relative_location(std::string_view location);

// Absolute URL for a relative redirect target, on the origin of `base`.
std::optional<std::string> join_location(std::string_view base, std::string_view location);

// The URLs of the Hub API for model repositories. `endpoint` has no trailing slash.
std::string resolve_url(std::string_view endpoint, std::string_view repo, std::string_view revision,
                        std::string_view path);
std::string revision_api_url(std::string_view endpoint, std::string_view repo, std::string_view revision);
std::string tree_api_url(std::string_view endpoint, std::string_view repo, std::string_view commit);

// Removes the query string, which on a CDN URL carries a signature that must not be logged.
std::string redact_url(std::string_view url);

} // namespace timmd::hub

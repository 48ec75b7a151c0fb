#include "daemon/hub/hub_url.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>

namespace timmd::hub {
namespace {

struct CurlUrlDeleter {
  void operator()(CURLU* url) const noexcept { curl_url_cleanup(url); }
};

std::optional<std::string> url_part(CURLU* url, CURLUPart part, unsigned int flags) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, flags) != CURLUE_OK || value == nullptr) {
    return std::nullopt;
  }
  std::string out(value);
  curl_free(value);
  return out;
}

} // namespace

std::string percent_encode(std::string_view text, std::string_view safe) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = std::isalnum(byte) != 0 || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved || safe.find(c) != std::string_view::npos) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(k_hex[byte >> 4]);
      out.push_back(k_hex[byte & 0x0f]);
    }
  }
  return out;
}

std::optional<Origin> parse_origin(std::string_view text) {
  std::unique_ptr<CURLU, CurlUrlDeleter> url(curl_url());
  const std::string copy(text);
  if (!url || curl_url_set(url.get(), CURLUPART_URL, copy.c_str(), 0) != CURLUE_OK) {
    return std::nullopt;
  }

  auto scheme = url_part(url.get(), CURLUPART_SCHEME, 0);
  auto host = url_part(url.get(), CURLUPART_HOST, 0);
  auto port = url_part(url.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (!scheme || !host || !port || (*scheme != "http" && *scheme != "https")) {
    return std::nullopt;
  }
  std::ranges::transform(*host, host->begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return Origin{*scheme, *host, *port};
}

bool is_relative_location(std::string_view location) {
  return location.starts_with('/') && !location.starts_with("//");
}

std::optional<std::string> join_location(std::string_view base, std::string_view location) {
  const auto origin = parse_origin(base);
  if (!origin || !is_relative_location(location)) {
    return std::nullopt;
  }
  const bool default_port =
      (origin->scheme == "http" && origin->port == "80") || (origin->scheme == "https" && origin->port == "443");
  std::string host = origin->host;
  if (host.find(':') != std::string::npos && !host.starts_with('[')) {
    host = "[" + host + "]"; // IPv6 literal
  }
  return origin->scheme + "://" + host + (default_port ? "" : ":" + origin->port) + std::string(location);
}

std::string resolve_url(std::string_view endpoint, std::string_view repo, std::string_view revision,
                        std::string_view path) {
  return std::string(endpoint) + "/" + std::string(repo) + "/resolve/" + percent_encode(revision) + "/" +
         percent_encode(path, "/");
}

std::string revision_api_url(std::string_view endpoint, std::string_view repo, std::string_view revision) {
  return std::string(endpoint) + "/api/models/" + std::string(repo) + "/revision/" + percent_encode(revision);
}

std::string tree_api_url(std::string_view endpoint, std::string_view repo, std::string_view commit) {
  return std::string(endpoint) + "/api/models/" + std::string(repo) + "/tree/" + percent_encode(commit) +
         "?recursive=true&expand=false";
}

std::string redact_url(std::string_view url) {
  const auto query = url.find('?');
  return query == std::string_view::npos ? std::string(url) : std::string(url.substr(0, query)) + "?<redacted>";
}

} // namespace timmd::hub

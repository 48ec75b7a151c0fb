#include "daemon/hub/hub_client.hpp"

#include "daemon/hub/etag.hpp"
#include "daemon/hub/hub_url.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

namespace asio = boost::asio;

namespace timmd::hub {
namespace {

using proto::Errc;

constexpr int k_max_redirects = 10;
constexpr int k_max_tree_pages = 10'000;

bool is_commit_hash(std::string_view text) {
  return text.size() == 40 &&
         std::ranges::all_of(text, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A repository path is used to build cache records and URLs: reject absolute paths and `..`.
bool is_safe_repo_path(std::string_view path) {
  if (path.empty() || path.starts_with('/') || path.find('\0') != std::string_view::npos) {
    return false;
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto end = std::min(path.find('/', start), path.size());
    const auto segment = path.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") {
      return false;
    }
    start = end + 1;
  }
  return true;
}

std::optional<std::uint64_t> parse_size(const std::string& text) {
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

proto::Error bad_answer(const HubRequestContext& context, const std::string& what) {
  return proto::make_error(Errc::upstream_unavailable,
                           "unexpected answer from " + context.endpoint + " for repository '" + context.repo +
                               "': " + what,
                           {{"endpoint", context.endpoint}, {"repo", context.repo}});
}

} // namespace

HubClient::HubClient(CurlMulti& multi, HubSettings settings) : m_multi(multi), m_settings(std::move(settings)) {}

std::vector<std::string> HubClient::auth_headers_for(const std::string& url) const {
  if (m_settings.token.empty()) {
    return {};
  }
  const auto target = parse_origin(url);
  const auto endpoint = parse_origin(m_settings.endpoint);
  if (!target || !endpoint || !(*target == *endpoint)) {
    return {};
  }
  return {"Authorization: Bearer " + m_settings.token};
}

asio::awaitable<HttpResponse> HubClient::perform_with_retries(HttpRequest request, int& attempts) {
  request.connect_timeout = m_settings.connect_timeout;
  request.stall_timeout = m_settings.stall_timeout;
  request.user_agent = m_settings.user_agent;
  const auto auth = auth_headers_for(request.url);
  request.headers.insert(request.headers.end(), auth.begin(), auth.end());

  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (attempts = 1;; ++attempts) {
    auto response = co_await perform_http(m_multi, request);
    if (!RetryPolicy::is_retryable(response) || attempts >= m_settings.retry.max_attempts) {
      co_return response;
    }

    const auto delay = m_settings.retry.delay_after(attempts, response);
    spdlog::warn("retrying {} {} in {} ms (attempt {} of {}): {}", request.method, redact_url(request.url),
                 delay.count(), attempts + 1, m_settings.retry.max_attempts,
                 response.transport_ok() ? "HTTP " + std::to_string(response.status) : response.curl_error);
    timer.expires_after(delay);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

asio::awaitable<proto::Result<nlohmann::json>>
HubClient::get_json(const std::string& url, const HubRequestContext& context, std::string* next_page) {
  HttpRequest request;
  request.url = url;
  request.total_timeout = m_settings.api_timeout;
  request.headers.push_back("Accept: application/json");

  int attempts = 0;
  auto response = co_await perform_with_retries(request, attempts);
  // The Hub redirects the API routes of a renamed repository to the new name (relative 3xx).
  for (int hop = 0; hop < k_max_redirects && response.transport_ok() && response.status >= 300 &&
                    response.status < 400 && is_relative_location(response.header("location"));
       ++hop) {
    const auto target = join_location(request.url, response.header("location"));
    if (!target) {
      break;
    }
    request.url = *target;
    response = co_await perform_with_retries(request, attempts);
  }
  if (!response.transport_ok() || response.status != 200) {
    auto with_attempts = context;
    with_attempts.attempts = attempts;
    co_return hub_error(response, with_attempts);
  }
  if (response.body_too_large) {
    co_return bad_answer(context, "the JSON answer of " + redact_url(url) + " exceeds 16 MiB");
  }

  auto body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_discarded()) {
    co_return bad_answer(context, "invalid JSON from " + redact_url(url));
  }
  if (next_page != nullptr) {
    *next_page = next_page_link(response.header("link")).value_or("");
  }
  co_return proto::Result<nlohmann::json>(boost::system::in_place_value, std::move(body));
}

asio::awaitable<proto::Result<std::string>> HubClient::resolve_commit(const std::string& repo,
                                                                      const std::string& revision) {
  if (is_commit_hash(revision)) {
    co_return revision;
  }

  const HubRequestContext context{m_settings.endpoint, repo, revision, "", 1};
  const auto url = revision_api_url(m_settings.endpoint, repo, revision);
  auto info = co_await get_json(url, context, nullptr);
  if (!info) {
    co_return info.error();
  }
  if (!info->is_object() || !info->contains("sha") || !(*info)["sha"].is_string() ||
      !is_commit_hash((*info)["sha"].get<std::string>())) {
    co_return bad_answer(context, "the revision answer has no 40-hex 'sha' field");
  }
  co_return (*info)["sha"].get<std::string>();
}

asio::awaitable<proto::Result<std::vector<TreeFile>>> HubClient::list_files(const std::string& repo,
                                                                            const std::string& commit) {
  const HubRequestContext context{m_settings.endpoint, repo, commit, "", 1};
  std::vector<TreeFile> files;
  std::string url = tree_api_url(m_settings.endpoint, repo, commit);

  for (int page = 0; !url.empty(); ++page) {
    if (page == k_max_tree_pages) {
      co_return bad_answer(context, "the file list has more than " + std::to_string(k_max_tree_pages) + " pages");
    }
    std::string next;
    auto entries = co_await get_json(url, context, &next);
    if (!entries) {
      co_return entries.error();
    }
    if (!entries->is_array()) {
      co_return bad_answer(context, "the tree listing is not a JSON array");
    }

    for (const auto& entry : *entries) {
      if (!entry.is_object() || entry.value("type", "") != "file") {
        continue;
      }
      TreeFile file;
      file.path = entry.value("path", "");
      file.git_oid = entry.value("oid", "");
      if (!is_safe_repo_path(file.path)) {
        co_return bad_answer(context, "the tree lists an unsafe file path '" + file.path + "'");
      }
      if (!entry.contains("size") || !entry["size"].is_number_unsigned()) {
        co_return bad_answer(context, "the tree entry '" + file.path + "' has no size");
      }
      file.size = entry["size"].get<std::uint64_t>();
      if (entry.contains("lfs") && entry["lfs"].is_object()) {
        auto sha = normalize_etag(entry["lfs"].value("oid", ""));
        if (!sha || sha->size() != 64) {
          co_return bad_answer(context, "the tree entry '" + file.path + "' has an invalid LFS sha256");
        }
        file.lfs_sha256 = *sha;
      }
      auto oid = normalize_etag(file.git_oid);
      if (!oid || oid->size() != 40) {
        co_return bad_answer(context, "the tree entry '" + file.path + "' has an invalid git oid");
      }
      file.git_oid = *oid;
      files.push_back(std::move(file));
    }
    url = next;
  }
  co_return files;
}

asio::awaitable<proto::Result<FileMetadata>>
HubClient::file_metadata(const std::string& repo, const std::string& commit, const std::string& path) {
  HubRequestContext context{m_settings.endpoint, repo, commit, path, 1};
  std::string url = resolve_url(m_settings.endpoint, repo, commit, path);

  for (int hop = 0; hop <= k_max_redirects; ++hop) {
    HttpRequest request;
    request.method = "HEAD";
    request.url = url;
    request.total_timeout = m_settings.api_timeout;
    int attempts = 0;
    auto response = co_await perform_with_retries(std::move(request), attempts);
    context.attempts = attempts;

    const bool redirect = response.transport_ok() && response.status >= 300 && response.status < 400;
    if (!response.transport_ok() || (response.status >= 400) || response.status < 200) {
      co_return hub_error(response, context);
    }

    const auto location = response.header("location");
    if (redirect && is_relative_location(location)) {
      auto next = join_location(url, location);
      if (!next) {
        co_return bad_answer(context, "cannot follow the redirect to '" + location + "'");
      }
      url = *next;
      continue;
    }
    if (redirect && location.empty()) {
      co_return bad_answer(context,
                           "HTTP " + std::to_string(response.status) + " without a Location header for '" + path + "'");
    }

    // A 200, or an absolute redirect (to a CDN) that carries the metadata itself.
    FileMetadata metadata;
    metadata.commit = response.header("x-repo-commit");
    if (!is_commit_hash(metadata.commit)) {
      co_return bad_answer(context, "the metadata of '" + path + "' lacks a valid X-Repo-Commit header");
    }
    if (metadata.commit != commit) {
      co_return bad_answer(context,
                           "the metadata of '" + path + "' is for commit " + metadata.commit + " instead of " + commit);
    }

    auto raw_etag = response.header("x-linked-etag");
    if (raw_etag.empty()) {
      raw_etag = response.header("etag");
    }
    if (raw_etag.empty()) {
      co_return bad_answer(context, "the metadata of '" + path + "' has no ETag");
    }
    auto etag = normalize_etag(raw_etag);
    if (!etag) {
      co_return etag.error();
    }
    metadata.etag = *etag;

    auto size_text = response.header("x-linked-size");
    if (size_text.empty() && !redirect) {
      size_text = response.header("content-length");
    }
    const auto size = parse_size(size_text);
    if (!size) {
      co_return bad_answer(context, "the metadata of '" + path + "' has no valid size (X-Linked-Size)");
    }
    metadata.size = *size;
    metadata.download_url = redirect ? location : url;
    co_return metadata;
  }
  co_return bad_answer(context, "more than " + std::to_string(k_max_redirects) + " redirects for '" + path + "'");
}

std::optional<std::string> next_page_link(const std::string& link_header) {
  // Link: <https://host/api/...&cursor=abc>; rel="next", <...>; rel="prev"
  std::size_t pos = 0;
  while ((pos = link_header.find('<', pos)) != std::string::npos) {
    const auto close = link_header.find('>', pos);
    if (close == std::string::npos) {
      return std::nullopt;
    }
    const auto target = link_header.substr(pos + 1, close - pos - 1);
    const auto next_entry = link_header.find('<', close);
    const auto params =
        link_header.substr(close, next_entry == std::string::npos ? std::string::npos : next_entry - close);
    if (params.find("rel=\"next\"") != std::string::npos || params.find("rel=next") != std::string::npos) {
      if (!parse_origin(target)) {
        return std::nullopt;
      }
      return target;
    }
    pos = close;
  }
  return std::nullopt;
}

} // namespace timmd::hub

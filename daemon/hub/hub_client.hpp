// Metadata requests to a Hugging Face Hub endpoint: revision -> commit, the file list of a
// commit, and the metadata of one file (etag, size, commit, download location).
//
// Thread safety: use on the CurlMulti's executor thread only.
#pragma once

#include "daemon/hub/curl_multi.hpp"
#include "daemon/hub/http.hpp"
#include "daemon/hub/hub_error.hpp"
#include "daemon/hub/retry_policy.hpp"
#include "proto/error.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace timmd::hub {

struct HubSettings {
  std::string endpoint = "https://huggingface.co"; // no trailing slash
  std::string token;                               // empty: anonymous
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::seconds stall_timeout{30};
  std::chrono::milliseconds api_timeout{60'000}; // whole metadata request
  RetryPolicy retry;
  std::string user_agent = "timmd/0.1";
};

struct TreeFile {
  std::string path;
  std::uint64_t size = 0;
  std::string git_oid;    // sha1 of the git blob (for LFS files: of the pointer)
  std::string lfs_sha256; // empty for regular files

  bool is_lfs() const noexcept { return !lfs_sha256.empty(); }
  // The etag the resolve endpoint reports for this file.
  const std::string& etag() const noexcept { return is_lfs() ? lfs_sha256 : git_oid; }
};

struct FileMetadata {
  std::string commit; // X-Repo-Commit
  std::string etag;   // normalised: 64 hex (LFS) or 40 hex
  std::uint64_t size = 0;
  std::string download_url; // where to GET the bytes (a CDN URL for LFS files)
};

class HubClient {
public:
  // REQUIRES: multi outlives the client.
  HubClient(CurlMulti& multi, HubSettings settings);

  const HubSettings& settings() const noexcept { return m_settings; }
  CurlMulti& multi() noexcept { return m_multi; }

  // The 40-hex commit a branch, tag, `refs/pr/N` or commit names.
  boost::asio::awaitable<proto::Result<std::string>> resolve_commit(const std::string& repo,
                                                                    const std::string& revision);

  // Every file of the repository at `commit` (recursive tree listing, all pages).
  boost::asio::awaitable<proto::Result<std::vector<TreeFile>>> list_files(const std::string& repo,
                                                                          const std::string& commit);

  // HEAD of the resolve URL, following relative redirects; an absolute redirect ends the walk
  // and carries the metadata itself. Missing commit, etag or size is an error.
  boost::asio::awaitable<proto::Result<FileMetadata>> file_metadata(const std::string& repo, const std::string& commit,
                                                                    const std::string& path);

  // "Authorization: Bearer ..." when `url` is on the endpoint's origin and a token is set;
  // nothing for any other host (a CDN or a redirect target).
  std::vector<std::string> auth_headers_for(const std::string& url) const;

  // Runs `request` with the retry policy; returns the last response. `attempts` receives the
  // number of attempts made.
  boost::asio::awaitable<HttpResponse> perform_with_retries(HttpRequest request, int& attempts);

private:
  boost::asio::awaitable<proto::Result<nlohmann::json>>
  get_json(const std::string& url, const HubRequestContext& context, std::string* next_page);

  CurlMulti& m_multi;
  HubSettings m_settings;
};

// Reads `<url>; rel="next"` from a Link header; nullopt when there is no next page.
std::optional<std::string> next_page_link(const std::string& link_header);

} // namespace timmd::hub

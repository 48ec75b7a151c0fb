#include "daemon/hub/hub_client.hpp"

#include "daemon/hub/hub_url.hpp"
#include "hub_test_support.hpp"
#include "tests/hubserver/file_hashes.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace timmd::hub;
using namespace timmd::hub::testing;
using timmd::proto::Errc;
using timmd::proto::Result;

namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

std::vector<timmd::testhub::RequestRecord> requests_on(const HubFixture& hub, std::string_view listener) {
  std::vector<timmd::testhub::RequestRecord> found;
  for (auto& record : hub.server->requests()) {
    if (record.listener == listener) {
      found.push_back(std::move(record));
    }
  }
  return found;
}

// The commit that `revision` of `repo` resolves to, or "" when it does not resolve.
std::string commit_of(const HubFixture& hub, const std::string& repo, const std::string& revision) {
  Result<std::string> commit;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    HubClient client(multi, hub.settings());
    commit = co_await client.resolve_commit(repo, revision);
  });
  return commit ? *commit : std::string();
}

Result<FileMetadata> metadata_of(const HubFixture& hub, const std::string& repo, const std::string& path,
                                 bool with_token = true) {
  const auto commit = commit_of(hub, repo, "main");
  REQUIRE(commit.size() == 40);
  hub.server->clear_requests();

  Result<FileMetadata> metadata;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    HubClient client(multi, hub.settings(with_token));
    metadata = co_await client.file_metadata(repo, commit, path);
  });
  return metadata;
}

// A 127.0.0.1 port with no listener: bound once, then closed.
std::uint16_t closed_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  const auto port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

} // namespace

TEST_CASE("next_page_link: next target returned") {
  CHECK(next_page_link("<https://hub.test/api/models/o/m/tree/c?cursor=abc>; rel=\"next\"") ==
        std::optional<std::string>("https://hub.test/api/models/o/m/tree/c?cursor=abc"));
}

TEST_CASE("next_page_link: next after prev") {
  CHECK(next_page_link("<https://hub.test/p?cursor=1>; rel=\"prev\", <https://hub.test/p?cursor=3>; rel=\"next\"") ==
        std::optional<std::string>("https://hub.test/p?cursor=3"));
}

TEST_CASE("next_page_link: unquoted rel accepted") {
  CHECK(next_page_link("<https://hub.test/p?cursor=2>; rel=next") ==
        std::optional<std::string>("https://hub.test/p?cursor=2"));
}

TEST_CASE("next_page_link: no next page") {
  CHECK_FALSE(next_page_link("").has_value());
  CHECK_FALSE(next_page_link("<https://hub.test/p?cursor=1>; rel=\"prev\"").has_value());
  CHECK_FALSE(next_page_link("<https://hub.test/p?cursor=1>").has_value());
}

TEST_CASE("next_page_link: malformed rejected") {
  CHECK_FALSE(next_page_link("<https://hub.test/p?cursor=1; rel=\"next\"").has_value());
  CHECK_FALSE(next_page_link("</api/models/o/m/tree/c?cursor=1>; rel=\"next\"").has_value());
  CHECK_FALSE(next_page_link("<ftp://hub.test/p>; rel=\"next\"").has_value());
}

TEST_CASE("auth_headers_for: token on endpoint origin") {
  asio::io_context io;
  CurlMulti multi(io.get_executor());
  HubSettings settings;
  settings.endpoint = "https://hub.test";
  settings.token = "hf_secret";
  const HubClient client(multi, settings);

  CHECK(client.auth_headers_for("https://hub.test/org/m/resolve/main/a") ==
        std::vector<std::string>{"Authorization: Bearer hf_secret"});
  CHECK(client.auth_headers_for("https://HUB.test:443/api/models/org/m") ==
        std::vector<std::string>{"Authorization: Bearer hf_secret"});
}

TEST_CASE("auth_headers_for: no token elsewhere") {
  asio::io_context io;
  CurlMulti multi(io.get_executor());
  HubSettings settings;
  settings.endpoint = "https://hub.test";
  settings.token = "hf_secret";
  const HubClient client(multi, settings);

  CHECK(client.auth_headers_for("https://cdn.hub.test/blobs/x").empty());
  CHECK(client.auth_headers_for("http://hub.test/org/m").empty());
  CHECK(client.auth_headers_for("https://hub.test:8443/org/m").empty());
  CHECK(client.auth_headers_for("https://hub.test.evil.test/org/m").empty());
  CHECK(client.auth_headers_for("/org/m").empty());
}

TEST_CASE("auth_headers_for: nothing without token") {
  asio::io_context io;
  CurlMulti multi(io.get_executor());
  HubSettings settings;
  settings.endpoint = "https://hub.test";
  const HubClient client(multi, settings);
  CHECK(client.auth_headers_for("https://hub.test/org/m").empty());
}

TEST_CASE("resolve_commit: branch") {
  HubFixture hub;
  const auto tree = hub.root.path() / "feature-tree";
  write_file(tree / "config.json", "{\"architecture\": \"feature\"}\n");
  const auto expected = hub.server->set_ref("org/model", "feature", tree);

  CHECK(commit_of(hub, "org/model", "feature") == expected);
  CHECK(commit_of(hub, "org/model", "main").size() == 40);
  CHECK(commit_of(hub, "org/model", "main") != expected);
}

TEST_CASE("resolve_commit: pull request ref") {
  HubFixture hub;
  const auto pr = commit_of(hub, "org/model", "refs/pr/1");
  CHECK(pr.size() == 40);
  CHECK(pr != commit_of(hub, "org/model", "main"));

  const auto records = requests_on(hub, "api");
  REQUIRE_FALSE(records.empty());
  CHECK(contains(records.front().target, "/revision/refs%2Fpr%2F1"));
}

TEST_CASE("resolve_commit: commit needs no request") {
  HubFixture hub;
  const auto main = commit_of(hub, "org/model", "main");
  hub.server->clear_requests();

  CHECK(commit_of(hub, "org/model", main) == main);
  CHECK(hub.server->requests().empty());
}

TEST_CASE("resolve_commit: unknown revision") {
  HubFixture hub;
  Result<std::string> commit;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    HubClient client(multi, hub.settings());
    const std::string repo = "org/model";
    const std::string revision = "no-such-branch";
    commit = co_await client.resolve_commit(repo, revision);
  });
  REQUIRE_FALSE(commit.has_value());
  CHECK(commit.error().code == Errc::revision_not_found);
  CHECK(contains(commit.error().message, "no-such-branch"));
}

TEST_CASE("resolve_commit: unknown repository") {
  HubFixture hub;
  Result<std::string> commit;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    HubClient client(multi, hub.settings());
    const std::string repo = "org/missing";
    const std::string revision = "main";
    commit = co_await client.resolve_commit(repo, revision);
  });
  REQUIRE_FALSE(commit.has_value());
  CHECK(commit.error().code == Errc::not_found);
  CHECK(contains(commit.error().message, "org/missing"));
}

TEST_CASE("resolve_commit: renamed repository followed") {
  HubFixture hub;
  const auto expected = commit_of(hub, "org/model", "main");
  Result<std::string> commit;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    HubClient client(multi, hub.settings());
    const std::string repo = "org/old-name";
    const std::string revision = "main";
    commit = co_await client.resolve_commit(repo, revision);
  });
  INFO(commit);
  REQUIRE(commit.has_value());
  CHECK(*commit == expected);
}

TEST_CASE("resolve_commit: retries after 503") {
  HubFixture hub;
  hub.add_fault({{"match", {{"path", "/api/models/org/model/revision/*"}}}, {"count", 2}, {"kind", "status"},
                 {"status", 503}});

  CHECK(commit_of(hub, "org/model", "main").size() == 40);
  CHECK(requests_on(hub, "api").size() == 3);
}

TEST_CASE("resolve_commit: retries follow Retry-After") {
  HubFixture hub;
  hub.add_fault({{"match", {{"path", "/api/models/org/model/revision/*"}}}, {"kind", "status"}, {"status", 429},
                 {"retry_after", 0}});

  CHECK(commit_of(hub, "org/model", "main").size() == 40);
  CHECK(requests_on(hub, "api").size() == 2);
}

TEST_CASE("resolve_commit: gives up after max attempts") {
  HubFixture hub;
  hub.add_fault({{"match", {{"path", "/api/models/org/model/revision/*"}}}, {"count", 0}, {"kind", "status"},
                 {"status", 503}});
  auto settings = hub.settings();
  settings.retry.max_attempts = 3;

  Result<std::string> commit;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    HubClient client(multi, settings);
    const std::string repo = "org/model";
    const std::string revision = "main";
    commit = co_await client.resolve_commit(repo, revision);
  });
  REQUIRE_FALSE(commit.has_value());
  CHECK(commit.error().code == Errc::upstream_unavailable);
  CHECK(contains(commit.error().message, "after 3 attempts"));
  CHECK(requests_on(hub, "api").size() == 3);
}

TEST_CASE("resolve_commit: unreachable endpoint") {
  HubFixture hub;
  auto settings = hub.settings();
  settings.endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
  settings.retry.max_attempts = 2;

  Result<std::string> commit;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    HubClient client(multi, settings);
    const std::string repo = "org/model";
    const std::string revision = "main";
    commit = co_await client.resolve_commit(repo, revision);
  });
  REQUIRE_FALSE(commit.has_value());
  CHECK(commit.error().code == Errc::upstream_unavailable);
  CHECK(contains(commit.error().message, settings.endpoint));
  CHECK(contains(commit.error().message, "HF_ENDPOINT"));
}

TEST_CASE("list_files: files with hashes") {
  HubFixture hub;
  const auto commit = commit_of(hub, "org/model", "main");

  Result<std::vector<TreeFile>> files;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    HubClient client(multi, hub.settings());
    const std::string repo = "org/model";
    files = co_await client.list_files(repo, commit);
  });
  REQUIRE(files.has_value());

  std::vector<std::string> paths;
  for (const auto& file : *files) {
    paths.push_back(file.path);
  }
  std::ranges::sort(paths);
  CHECK(paths == std::vector<std::string>{"config.json", "model.safetensors", "names/a#b%c.txt",
                                          "names/with space.txt", "names/\xc3\xbcn\xc3\xaf.txt", "sub/data.txt"});

  const auto model = std::ranges::find(*files, std::string("model.safetensors"), &TreeFile::path);
  REQUIRE(model != files->end());
  CHECK(model->is_lfs());
  CHECK(model->size == hub.model_bytes.size());
  CHECK(model->etag() == timmd::testhub::sha256_hex(hub.model_bytes));
  CHECK(model->git_oid.size() == 40);

  const auto data = std::ranges::find(*files, std::string("sub/data.txt"), &TreeFile::path);
  REQUIRE(data != files->end());
  CHECK_FALSE(data->is_lfs());
  CHECK(data->size == 6);
  CHECK(data->etag() == timmd::testhub::git_blob_sha1("hello\n"));
}

TEST_CASE("list_files: follows every page") {
  HubFixture hub(3);
  const auto commit = commit_of(hub, "org/many", "main");
  hub.server->clear_requests();

  Result<std::vector<TreeFile>> files;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    HubClient client(multi, hub.settings());
    const std::string repo = "org/many";
    files = co_await client.list_files(repo, commit);
  });
  REQUIRE(files.has_value());
  CHECK(files->size() == 11);

  const auto records = requests_on(hub, "api");
  CHECK(records.size() == 4);
  for (const auto& record : records) {
    CHECK(record.authorization == std::string("Bearer ") + HubFixture::k_token);
  }
}

TEST_CASE("list_files: unknown commit") {
  HubFixture hub;
  Result<std::vector<TreeFile>> files;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    HubClient client(multi, hub.settings());
    const std::string repo = "org/model";
    const std::string commit = "0123456789abcdef0123456789abcdef01234567";
    files = co_await client.list_files(repo, commit);
  });
  REQUIRE_FALSE(files.has_value());
  CHECK(files.error().code == Errc::revision_not_found);
}

TEST_CASE("file_metadata: direct HEAD") {
  HubFixture hub;
  const auto metadata = metadata_of(hub, "org/styles", "config.json");
  REQUIRE(metadata.has_value());
  CHECK(metadata->etag == timmd::testhub::git_blob_sha1("{}\n"));
  CHECK(metadata->size == 3);
  CHECK(metadata->commit == commit_of(hub, "org/styles", "main"));
  CHECK(metadata->download_url == resolve_url(hub.server->endpoint(), "org/styles", metadata->commit, "config.json"));
}

TEST_CASE("file_metadata: relative redirect followed") {
  HubFixture hub;
  const auto metadata = metadata_of(hub, "org/styles", "weights.bin");
  REQUIRE(metadata.has_value());
  CHECK(metadata->etag == timmd::testhub::sha256_hex(make_content(1000, 2)));
  CHECK(metadata->size == 1000);
  CHECK(metadata->download_url.starts_with(hub.server->endpoint() + "/api/resolve-cache/models/org/styles/"));

  const auto records = requests_on(hub, "api");
  REQUIRE(records.size() == 2);
  CHECK(records[0].status == 307);
  CHECK(records[1].status == 200);
}

TEST_CASE("file_metadata: absolute redirect to CDN") {
  HubFixture hub;
  const auto metadata = metadata_of(hub, "org/model", "model.safetensors");
  REQUIRE(metadata.has_value());
  CHECK(metadata->etag == timmd::testhub::sha256_hex(hub.model_bytes));
  CHECK(metadata->size == hub.model_bytes.size());
  CHECK(metadata->download_url.starts_with(hub.server->cdn_endpoint() + "/blobs/"));
  CHECK(requests_on(hub, "cdn").empty());
}

TEST_CASE("file_metadata: regular file through CDN") {
  HubFixture hub;
  const auto metadata = metadata_of(hub, "org/styles", "big.txt");
  REQUIRE(metadata.has_value());
  CHECK(metadata->etag == timmd::testhub::git_blob_sha1("a regular file sent through the CDN\n"));
  CHECK(metadata->download_url.starts_with(hub.server->cdn_endpoint() + "/blobs/"));
}

TEST_CASE("file_metadata: special characters in path") {
  HubFixture hub;
  for (const std::string path : {"names/with space.txt", "names/a#b%c.txt", "names/\xc3\xbcn\xc3\xaf.txt"}) {
    CAPTURE(path);
    const auto metadata = metadata_of(hub, "org/model", path);
    CHECK(metadata.has_value());
  }
}

TEST_CASE("file_metadata: pull request commit") {
  HubFixture hub;
  const auto commit = commit_of(hub, "org/model", "refs/pr/1");
  Result<FileMetadata> metadata;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    HubClient client(multi, hub.settings());
    const std::string repo = "org/model";
    const std::string path = "config.json";
    metadata = co_await client.file_metadata(repo, commit, path);
  });
  REQUIRE(metadata.has_value());
  CHECK(metadata->commit == commit);
  CHECK(metadata->etag == timmd::testhub::git_blob_sha1("{\"architecture\": \"pr\"}\n"));
}

TEST_CASE("file_metadata: renamed repository followed") {
  HubFixture hub;
  const auto commit = commit_of(hub, "org/model", "main");
  Result<FileMetadata> metadata;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    HubClient client(multi, hub.settings());
    const std::string repo = "org/old-name";
    const std::string path = "model.safetensors";
    metadata = co_await client.file_metadata(repo, commit, path);
  });
  REQUIRE(metadata.has_value());
  CHECK(metadata->etag == timmd::testhub::sha256_hex(hub.model_bytes));
}

TEST_CASE("file_metadata: weak etag accepted") {
  HubFixture hub;
  hub.add_fault({{"match", {{"method", "HEAD"}}}, {"count", 0}, {"kind", "weak_etag"}});
  const auto metadata = metadata_of(hub, "org/styles", "config.json");
  REQUIRE(metadata.has_value());
  CHECK(metadata->etag == timmd::testhub::git_blob_sha1("{}\n"));
}

TEST_CASE("file_metadata: unquoted etag accepted") {
  HubFixture hub;
  hub.add_fault({{"match", {{"method", "HEAD"}}}, {"count", 0}, {"kind", "unquoted_etag"}});
  const auto metadata = metadata_of(hub, "org/model", "model.safetensors");
  REQUIRE(metadata.has_value());
  CHECK(metadata->etag == timmd::testhub::sha256_hex(hub.model_bytes));
}

TEST_CASE("file_metadata: invalid etag rejected") {
  HubFixture hub;
  hub.add_fault({{"match", {{"method", "HEAD"}}}, {"count", 0}, {"kind", "change_etag"}, {"etag", "../../x"}});
  const auto metadata = metadata_of(hub, "org/model", "model.safetensors");
  REQUIRE_FALSE(metadata.has_value());
  CHECK(metadata.error().code == Errc::upstream_unavailable);
  CHECK(contains(metadata.error().message, "../../x"));
}

TEST_CASE("file_metadata: missing X-Repo-Commit") {
  HubFixture hub;
  hub.add_fault({{"match", {{"method", "HEAD"}}}, {"count", 0}, {"kind", "drop_header"}, {"header", "X-Repo-Commit"}});
  const auto metadata = metadata_of(hub, "org/styles", "config.json");
  REQUIRE_FALSE(metadata.has_value());
  CHECK(metadata.error().code == Errc::upstream_unavailable);
  CHECK(contains(metadata.error().message, "X-Repo-Commit"));
}

TEST_CASE("file_metadata: CDN redirect without size") {
  HubFixture hub;
  hub.add_fault({{"match", {{"method", "HEAD"}}}, {"count", 0}, {"kind", "drop_header"}, {"header", "X-Linked-Size"}});
  const auto metadata = metadata_of(hub, "org/model", "model.safetensors");
  REQUIRE_FALSE(metadata.has_value());
  CHECK(metadata.error().code == Errc::upstream_unavailable);
  CHECK(contains(metadata.error().message, "size"));
}

TEST_CASE("file_metadata: redirect loop") {
  HubFixture hub;
  hub.add_fault({{"match", {{"method", "HEAD"}}}, {"count", 0}, {"kind", "redirect_loop"}});
  const auto metadata = metadata_of(hub, "org/styles", "config.json");
  REQUIRE_FALSE(metadata.has_value());
  CHECK(metadata.error().code == Errc::upstream_unavailable);
  CHECK(contains(metadata.error().message, "redirects"));
  CHECK(requests_on(hub, "api").size() == 11);
}

TEST_CASE("file_metadata: missing file") {
  HubFixture hub;
  const auto metadata = metadata_of(hub, "org/model", "no/such/file.bin");
  REQUIRE_FALSE(metadata.has_value());
  CHECK(metadata.error().code == Errc::not_found);
  CHECK(contains(metadata.error().message, "no/such/file.bin"));
}

TEST_CASE("file_metadata: gated without token") {
  HubFixture hub;
  const auto metadata = metadata_of(hub, "org/gated", "config.json", false);
  REQUIRE_FALSE(metadata.has_value());
  CHECK(metadata.error().code == Errc::gated);
}

TEST_CASE("file_metadata: gated with token") {
  HubFixture hub;
  const auto metadata = metadata_of(hub, "org/gated", "config.json");
  CHECK(metadata.has_value());
}

TEST_CASE("token: sent to API, never to CDN") {
  HubFixture hub;
  const auto metadata = metadata_of(hub, "org/model", "model.safetensors");
  REQUIRE(metadata.has_value());

  HttpResponse download;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    HubClient client(multi, hub.settings());
    HttpRequest request;
    request.url = metadata->download_url;
    int attempts = 0;
    download = co_await client.perform_with_retries(std::move(request), attempts);
  });
  CHECK(download.transport_ok());
  CHECK(download.status == 200);
  CHECK(download.body == hub.model_bytes);

  const auto api = requests_on(hub, "api");
  const auto cdn = requests_on(hub, "cdn");
  REQUIRE(api.size() == 1);
  REQUIRE(cdn.size() == 1);
  CHECK(api[0].authorization == std::string("Bearer ") + HubFixture::k_token);
  CHECK(cdn[0].authorization.empty());
}

TEST_CASE("token: not sent when unset") {
  HubFixture hub;
  const auto metadata = metadata_of(hub, "org/styles", "weights.bin", false);
  REQUIRE(metadata.has_value());
  for (const auto& record : hub.server->requests()) {
    CHECK(record.authorization.empty());
  }
}

TEST_CASE("token: rejected token reported") {
  HubFixture hub;
  auto settings = hub.settings();
  settings.token = "hf_wrong";
  Result<std::string> commit;
  run_with_curl([&](CurlMulti& multi) -> asio::awaitable<void> {
    HubClient client(multi, settings);
    const std::string repo = "org/model";
    const std::string revision = "main";
    commit = co_await client.resolve_commit(repo, revision);
  });
  REQUIRE_FALSE(commit.has_value());
  CHECK(commit.error().code == Errc::unauthorized);
  CHECK_FALSE(contains(commit.error().message, "hf_wrong"));
}

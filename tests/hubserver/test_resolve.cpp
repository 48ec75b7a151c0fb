// Downloads through /resolve/: the three HEAD styles, the CDN listener, ranges and errors.
#include "tests/hubserver/file_hashes.hpp"
#include "tests/hubserver/test_support.hpp"

#include <doctest/doctest.h>

using namespace timmd::testhub;
using namespace timmd::testhub::testing;

namespace {

std::string quoted(const std::string& text) {
  return "\"" + text + "\"";
}

// Returns `location` relative to the API endpoint when it is a path, else unchanged.
std::string absolute(const HubFixture& hub, const std::string& location) {
  return location.starts_with("/") ? hub.url(location) : location;
}

} // namespace

TEST_CASE("regular file HEAD redirects relative to resolve-cache") {
  HubFixture hub;
  const auto head = fetch("HEAD", hub.url("/org/model/resolve/main/config.json"));
  CHECK(head.status == 307);
  const auto location = head.header("Location");
  CHECK(location.starts_with("/api/resolve-cache/models/org/model/"));
  CHECK(location.find("/config.json?etag=") != std::string::npos);
  CHECK_FALSE(head.has_header("X-Linked-Etag"));

  // Clients drop the query of a relative Location, so follow the path alone.
  const auto path = location.substr(0, location.find('?'));
  const auto target = fetch("HEAD", hub.url(path));
  const auto content = std::string("{\"model_type\": \"test\"}\n");
  CHECK(target.status == 200);
  CHECK(target.header("X-Repo-Commit").size() == 40);
  CHECK(target.header("ETag") == quoted(git_blob_sha1(content)));
  CHECK(target.header("X-Linked-Etag") == quoted(git_blob_sha1(content)));
  CHECK(target.header("X-Linked-Size") == std::to_string(content.size()));
  CHECK(target.header("Content-Length") == std::to_string(content.size()));
  CHECK(target.header("Accept-Ranges") == "bytes");
  CHECK(target.header("X-Request-Id").starts_with("Root=1-"));

  const auto body = fetch("GET", hub.url("/org/model/resolve/main/config.json"), {.follow_redirects = true});
  CHECK(body.status == 200);
  CHECK(body.body == content);
}

TEST_CASE("lfs file HEAD redirects to the CDN with metadata on the 302") {
  HubFixture hub;
  const auto head = fetch("HEAD", hub.url("/org/model/resolve/main/model.safetensors"));
  const auto sha256 = sha256_hex(hub.model_bytes);
  CHECK(head.status == 302);
  CHECK(head.header("Location").starts_with(hub.server->cdn_endpoint() + "/"));
  CHECK(head.header("X-Repo-Commit").size() == 40);
  CHECK(head.header("X-Linked-Etag") == quoted(sha256));
  CHECK(head.header("X-Linked-Size") == std::to_string(hub.model_bytes.size()));

  const auto cdn = fetch("GET", head.header("Location"));
  CHECK(cdn.status == 200);
  CHECK(cdn.body == hub.model_bytes);
  CHECK(cdn.has_header("ETag"));
  CHECK(cdn.header("ETag") != quoted(sha256));
  CHECK_FALSE(cdn.has_header("X-Linked-Etag"));
  CHECK_FALSE(cdn.has_header("X-Linked-Size"));
  CHECK_FALSE(cdn.has_header("X-Repo-Commit"));

  const auto cdn_head = fetch("HEAD", head.header("Location"));
  CHECK(cdn_head.status == 200);
  CHECK(cdn_head.header("Content-Length") == std::to_string(hub.model_bytes.size()));
}

TEST_CASE("CDN rejects Authorization and a bad signature") {
  HubFixture hub;
  const auto location = fetch("HEAD", hub.url("/org/model/resolve/main/model.safetensors")).header("Location");
  const auto with_token = fetch("GET", location, {.headers = {hub.auth_header()}});
  CHECK(with_token.status == 400);
  CHECK(with_token.body.find("Authorization") != std::string::npos);

  const auto unsigned_url = location.substr(0, location.find('?'));
  CHECK(fetch("GET", unsigned_url).status == 403);
  CHECK(fetch("GET", unsigned_url + "?X-Sig=0000").status == 403);
  CHECK(fetch("GET", hub.server->cdn_endpoint() + "/nothing").status == 404);
}

TEST_CASE("head styles come from config") {
  HubFixture hub;
  const auto direct = fetch("HEAD", hub.url("/org/styles/resolve/main/config.json"));
  CHECK(direct.status == 200);
  CHECK(direct.header("ETag") == quoted(git_blob_sha1("{}\n")));
  CHECK(direct.header("X-Linked-Size") == "3");
  CHECK(direct.header("X-Repo-Commit").size() == 40);

  const auto cdn = fetch("HEAD", hub.url("/org/styles/resolve/main/big.txt"));
  CHECK(cdn.status == 302);
  CHECK(cdn.header("X-Linked-Etag") == quoted(git_blob_sha1("not lfs but sent through the CDN\n")));
  const auto from_cdn = fetch("GET", cdn.header("Location"));
  CHECK(from_cdn.body == "not lfs but sent through the CDN\n");

  const auto relative = fetch("HEAD", hub.url("/org/styles/resolve/main/weights.bin"));
  CHECK(relative.status == 307);
  const auto followed = fetch("GET", hub.url("/org/styles/resolve/main/weights.bin"), {.follow_redirects = true});
  CHECK(followed.body == pattern_bytes(1000, 2));
  CHECK(followed.header("X-Linked-Etag") == quoted(sha256_hex(pattern_bytes(1000, 2))));
}

TEST_CASE("direct GET ranges") {
  HubFixture hub;
  const auto url = hub.url("/org/styles/resolve/main/config.json");
  const auto location = fetch("HEAD", hub.url("/org/model/resolve/main/model.safetensors")).header("Location");
  const auto size = hub.model_bytes.size();

  const auto first = fetch("GET", location, {.headers = {"Range: bytes=0-0"}});
  CHECK(first.status == 206);
  CHECK(first.body == hub.model_bytes.substr(0, 1));
  CHECK(first.header("Content-Range") == "bytes 0-0/" + std::to_string(size));

  const auto middle = fetch("GET", location, {.headers = {"Range: bytes=1000-1999"}});
  CHECK(middle.status == 206);
  CHECK(middle.body == hub.model_bytes.substr(1000, 1000));
  CHECK(middle.header("Content-Length") == "1000");

  const auto tail = fetch("GET", location, {.headers = {"Range: bytes=299000-"}});
  CHECK(tail.status == 206);
  CHECK(tail.body == hub.model_bytes.substr(299000));

  const auto suffix = fetch("GET", location, {.headers = {"Range: bytes=-10"}});
  CHECK(suffix.status == 206);
  CHECK(suffix.body == hub.model_bytes.substr(size - 10));
  CHECK(suffix.header("Content-Range") ==
        "bytes " + std::to_string(size - 10) + "-" + std::to_string(size - 1) + "/" + std::to_string(size));

  const auto past_end = fetch("GET", location, {.headers = {"Range: bytes=299990-400000"}});
  CHECK(past_end.status == 206);
  CHECK(past_end.body == hub.model_bytes.substr(299990));

  const auto unsatisfiable = fetch("GET", location, {.headers = {"Range: bytes=300000-"}});
  CHECK(unsatisfiable.status == 416);
  CHECK(unsatisfiable.header("Content-Range") == "bytes */" + std::to_string(size));

  const auto direct = fetch("GET", url, {.headers = {"Range: bytes=1-"}});
  CHECK(direct.status == 206);
  CHECK(direct.body == "}\n");
  CHECK(direct.header("X-Repo-Commit").size() == 40);
}

TEST_CASE("revisions: pull request, tag, branch, commit") {
  HubFixture hub;
  const auto pr_encoded = fetch("GET", hub.url("/org/model/resolve/refs%2Fpr%2F1/config.json"), {.follow_redirects = true});
  CHECK(pr_encoded.status == 200);
  CHECK(pr_encoded.body == "{\"model_type\": \"pr\"}\n");

  const auto pr_raw = fetch("GET", hub.url("/org/model/resolve/refs/pr/1/config.json"), {.follow_redirects = true});
  CHECK(pr_raw.body == "{\"model_type\": \"pr\"}\n");

  const auto tag = fetch("GET", hub.url("/org/model/resolve/v1.0/config.json"), {.follow_redirects = true});
  CHECK(tag.body == "{\"model_type\": \"v1\"}\n");

  const auto branch = fetch("GET", hub.url("/org/model/resolve/dev/config.json"), {.follow_redirects = true});
  CHECK(branch.body == "{\"model_type\": \"dev\"}\n");

  const auto pr_head = fetch("HEAD", hub.url("/org/model/resolve/refs%2Fpr%2F1/config.json"), {.follow_redirects = true});
  const auto commit = pr_head.header("X-Repo-Commit");
  REQUIRE(commit.size() == 40);
  const auto by_commit = fetch("GET", hub.url("/org/model/resolve/" + commit + "/config.json"), {.follow_redirects = true});
  CHECK(by_commit.body == "{\"model_type\": \"pr\"}\n");
  const auto by_prefix =
      fetch("GET", hub.url("/org/model/resolve/" + commit.substr(0, 10) + "/config.json"), {.follow_redirects = true});
  CHECK(by_prefix.body == "{\"model_type\": \"pr\"}\n");
}

TEST_CASE("file names with space, unicode, hash and percent") {
  HubFixture hub;
  const auto space = fetch("GET", hub.url("/org/model/resolve/main/names/with%20space.txt"), {.follow_redirects = true});
  CHECK(space.body == "space\n");
  const auto unicode = fetch("GET", hub.url("/org/model/resolve/main/names/%C3%BCn%C3%AF.txt"), {.follow_redirects = true});
  CHECK(unicode.body == "unicode\n");
  const auto hash = fetch("HEAD", hub.url("/org/model/resolve/main/names/a%23b%25c.txt"));
  CHECK(hash.status == 307);
  CHECK(hash.header("Location").find("/names/a%23b%25c.txt?") != std::string::npos);
  const auto followed = fetch("GET", hub.url("/org/model/resolve/main/names/a%23b%25c.txt"), {.follow_redirects = true});
  CHECK(followed.body == "hash percent\n");
}

TEST_CASE("resolve errors") {
  HubFixture hub;
  const auto missing_entry = fetch("HEAD", hub.url("/org/model/resolve/main/nope.txt"));
  CHECK(missing_entry.status == 404);
  CHECK(missing_entry.header("X-Error-Code") == "EntryNotFound");
  CHECK(missing_entry.header("X-Repo-Commit").size() == 40);
  CHECK(missing_entry.header("X-Request-Id").size() > 0);

  const auto missing_entry_body = fetch("GET", hub.url("/org/model/resolve/main/nope.txt"));
  CHECK(missing_entry_body.body == R"({"error":"Entry not found"})");

  const auto missing_revision = fetch("HEAD", hub.url("/org/model/resolve/nope/config.json"));
  CHECK(missing_revision.status == 404);
  CHECK(missing_revision.header("X-Error-Code") == "RevisionNotFound");
  CHECK(missing_revision.header("X-Error-Message") == "Invalid rev id: nope");

  const auto missing_repo = fetch("HEAD", hub.url("/org/none/resolve/main/config.json"));
  CHECK(missing_repo.status == 401);
  CHECK(missing_repo.header("X-Error-Code") == "RepoNotFound");

  const auto missing_repo_with_token =
      fetch("HEAD", hub.url("/org/none/resolve/main/config.json"), {.headers = {hub.auth_header()}});
  CHECK(missing_repo_with_token.status == 404);
  CHECK(missing_repo_with_token.header("X-Error-Code") == "RepoNotFound");

  const auto dataset = fetch("HEAD", hub.url("/datasets/org/model/resolve/main/config.json"));
  CHECK(dataset.header("X-Error-Code") == "RepoNotFound");

  const auto directory = fetch("HEAD", hub.url("/org/model/resolve/main/sub"));
  CHECK(directory.header("X-Error-Code") == "EntryNotFound");

  const auto commit = fetch("HEAD", hub.url("/org/model/resolve/main/config.json"), {.follow_redirects = true})
                          .header("X-Repo-Commit");
  const auto cache_missing = fetch("HEAD", hub.url("/api/resolve-cache/models/org/model/" + commit + "/nope.txt"));
  CHECK(cache_missing.header("X-Error-Code") == "EntryNotFound");
  const auto cache_bad_commit =
      fetch("HEAD", hub.url("/api/resolve-cache/models/org/model/" + std::string(40, 'f') + "/config.json"));
  CHECK(cache_bad_commit.header("X-Error-Code") == "RevisionNotFound");
}

TEST_CASE("relative redirect target keeps the token") {
  HubFixture hub;
  const auto head = fetch("HEAD", hub.url("/org/private/resolve/main/config.json"), {.headers = {hub.auth_header()}});
  CHECK(head.status == 307);
  const auto location = head.header("Location");
  CHECK(fetch("HEAD", absolute(hub, location)).status == 401);
  CHECK(fetch("HEAD", absolute(hub, location), {.headers = {hub.auth_header()}}).status == 200);
}

TEST_CASE("renamed repository redirects to the new name") {
  HubFixture hub;
  const auto head = fetch("HEAD", hub.url("/org/old-name/resolve/main/config.json"));
  CHECK(head.status == 307);
  CHECK(head.header("Location") == "/org/model/resolve/main/config.json");
  const auto followed = fetch("GET", hub.url("/org/old-name/resolve/main/config.json"), {.follow_redirects = true});
  CHECK(followed.body == "{\"model_type\": \"test\"}\n");

  const auto info = fetch("GET", hub.url("/api/models/org/old-name?blobs=true"));
  CHECK(info.status == 307);
  CHECK(info.header("Location") == "/api/models/org/model?blobs=true");
  CHECK(fetch("GET", hub.url("/api/models/org/old-name/tree/main")).header("Location") ==
        "/api/models/org/model/tree/main");
}

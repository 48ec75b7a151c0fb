// The JSON API: repository info, tree listing with pagination, refs and paths-info.
#include "tests/hubserver/file_hashes.hpp"
#include "tests/hubserver/test_support.hpp"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

#include <regex>
#include <set>

using namespace timmd::testhub;
using namespace timmd::testhub::testing;
using nlohmann::json;

namespace {

json get_json(const std::string& url) {
  const auto result = fetch("GET", url);
  REQUIRE(result.status == 200);
  return json::parse(result.body);
}

std::string main_commit(const HubFixture& hub) {
  return fetch("HEAD", hub.url("/org/model/resolve/main/config.json"), {.follow_redirects = true})
      .header("X-Repo-Commit");
}

std::set<std::string> paths_of(const json& entries) {
  std::set<std::string> paths;
  for (const auto& entry : entries) {
    paths.insert(entry.at("path").get<std::string>());
  }
  return paths;
}

} // namespace

TEST_CASE("model info at main and at a revision") {
  HubFixture hub;
  const auto info = get_json(hub.url("/api/models/org/model"));
  CHECK(info.at("id") == "org/model");
  CHECK(info.at("sha") == main_commit(hub));
  CHECK(info.at("private") == false);
  CHECK(info.at("gated") == false);
  CHECK(info.at("lastModified").get<std::string>().ends_with("Z"));
  std::set<std::string> files;
  for (const auto& sibling : info.at("siblings")) {
    files.insert(sibling.at("rfilename").get<std::string>());
    CHECK_FALSE(sibling.contains("size"));
  }
  CHECK(files == std::set<std::string>{"config.json", "model.safetensors", "names/a#b%c.txt", "names/with space.txt",
                                       "names/\xc3\xbcn\xc3\xaf.txt", "sub/data.txt"});

  const auto pr = get_json(hub.url("/api/models/org/model/revision/refs%2Fpr%2F1"));
  CHECK(pr.at("sha") != info.at("sha"));
  CHECK(pr.at("siblings").size() == 1);
  const auto by_commit = get_json(hub.url("/api/models/org/model/revision/" + pr.at("sha").get<std::string>()));
  CHECK(by_commit.at("sha") == pr.at("sha"));
  CHECK(get_json(hub.url("/api/models/org/model/revision/HEAD")).at("sha") == info.at("sha"));
}

TEST_CASE("model info with blobs") {
  HubFixture hub;
  const auto info = get_json(hub.url("/api/models/org/model/revision/main?blobs=true"));
  bool saw_lfs = false;
  for (const auto& sibling : info.at("siblings")) {
    CHECK(sibling.contains("size"));
    CHECK(sibling.at("blobId").get<std::string>().size() == 40);
    if (sibling.at("rfilename") == "model.safetensors") {
      saw_lfs = true;
      const auto sha256 = sha256_hex(hub.model_bytes);
      CHECK(sibling.at("lfs").at("sha256") == sha256);
      CHECK(sibling.at("lfs").at("size") == hub.model_bytes.size());
      const auto pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + sha256 + "\nsize " +
                           std::to_string(hub.model_bytes.size()) + "\n";
      CHECK(sibling.at("lfs").at("pointerSize") == pointer.size());
      CHECK(sibling.at("blobId") == git_blob_sha1(pointer));
    } else {
      CHECK_FALSE(sibling.contains("lfs"));
    }
  }
  CHECK(saw_lfs);
}

TEST_CASE("tree listing entries") {
  HubFixture hub;
  const auto root = get_json(hub.url("/api/models/org/model/tree/main"));
  CHECK(paths_of(root) == std::set<std::string>{"config.json", "model.safetensors", "names", "sub"});
  for (const auto& entry : root) {
    CHECK_FALSE(entry.contains("xetHash"));
    if (entry.at("path") == "sub") {
      CHECK(entry.at("type") == "directory");
      CHECK(entry.at("oid").get<std::string>().size() == 40);
    }
    if (entry.at("path") == "config.json") {
      CHECK(entry.at("type") == "file");
      CHECK(entry.at("oid") == git_blob_sha1("{\"model_type\": \"test\"}\n"));
      CHECK(entry.at("size") == 23);
      CHECK_FALSE(entry.contains("lfs"));
    }
    if (entry.at("path") == "model.safetensors") {
      CHECK(entry.at("lfs").at("oid") == sha256_hex(hub.model_bytes));
      CHECK(entry.at("lfs").at("size") == hub.model_bytes.size());
      CHECK(entry.at("size") == hub.model_bytes.size());
    }
  }

  const auto recursive = get_json(hub.url("/api/models/org/model/tree/main?recursive=true"));
  CHECK(recursive.size() == 8);
  CHECK(paths_of(get_json(hub.url("/api/models/org/model/tree/main?recursive=True"))) == paths_of(recursive));
  CHECK(get_json(hub.url("/api/models/org/model/tree/main?recursive=False")) == root);

  const auto sub = get_json(hub.url("/api/models/org/model/tree/main/names"));
  CHECK(sub.size() == 3);
  CHECK(get_json(hub.url("/api/models/org/model/tree/main/names%2F")) == sub);
  const auto expanded = get_json(hub.url("/api/models/org/model/tree/main/sub?expand=true"));
  REQUIRE(expanded.size() == 1);
  CHECK(expanded[0].at("lastCommit").at("id") == main_commit(hub));

  const auto missing = fetch("GET", hub.url("/api/models/org/model/tree/main/nope"));
  CHECK(missing.status == 404);
  CHECK(missing.header("X-Error-Code") == "EntryNotFound");
  const auto bad_revision = fetch("GET", hub.url("/api/models/org/model/tree/nope"));
  CHECK(bad_revision.header("X-Error-Code") == "RevisionNotFound");
  CHECK(get_json(hub.url("/api/models/org/model/tree/refs%2Fpr%2F1")).size() == 1);
}

TEST_CASE("tree pagination follows absolute links") {
  HubFixture hub(3);
  const auto full_count = 8U;
  std::string url = hub.url("/api/models/org/model/tree/main?recursive=true&expand=false");
  json collected = json::array();
  int pages = 0;
  while (!url.empty()) {
    const auto page = fetch("GET", url);
    REQUIRE(page.status == 200);
    const auto entries = json::parse(page.body);
    CHECK(entries.size() <= 3);
    collected.insert(collected.end(), entries.begin(), entries.end());
    ++pages;
    url.clear();
    const auto link = page.header("Link");
    if (!link.empty()) {
      std::smatch match;
      REQUIRE(std::regex_match(link, match, std::regex(R"(<(http://127\.0\.0\.1:\d+/[^>]+)>; rel="next")")));
      url = match[1];
      CHECK(url.find("recursive=true") != std::string::npos);
      CHECK(url.find("cursor=") != std::string::npos);
    }
    REQUIRE(pages < 10);
  }
  CHECK(pages == 3);
  CHECK(collected.size() == full_count);
  CHECK(paths_of(collected).size() == full_count);

  CHECK(fetch("GET", hub.url("/api/models/org/model/tree/main?cursor=x")).status == 400);
}

TEST_CASE("refs listing") {
  HubFixture hub;
  const auto refs = get_json(hub.url("/api/models/org/model/refs"));
  std::set<std::string> branches;
  for (const auto& branch : refs.at("branches")) {
    branches.insert(branch.at("name").get<std::string>());
    CHECK(branch.at("targetCommit").get<std::string>().size() == 40);
  }
  CHECK(branches == std::set<std::string>{"dev", "main"});
  REQUIRE(refs.at("tags").size() == 1);
  CHECK(refs.at("tags")[0].at("name") == "v1.0");
  CHECK(refs.at("tags")[0].at("ref") == "refs/tags/v1.0");
  CHECK_FALSE(refs.contains("pullRequests"));

  const auto with_prs = get_json(hub.url("/api/models/org/model/refs?include_prs=1"));
  REQUIRE(with_prs.at("pullRequests").size() == 1);
  CHECK(with_prs.at("pullRequests")[0].at("ref") == "refs/pr/1");
}

TEST_CASE("paths-info accepts form and JSON bodies") {
  HubFixture hub;
  const auto url = hub.url("/api/models/org/model/paths-info/main");
  const auto form = fetch("POST", url, {.headers = {"Content-Type: application/x-www-form-urlencoded"},
                                        .body = "paths=config.json&paths=sub&paths=nope&expand=false"});
  REQUIRE(form.status == 200);
  CHECK(paths_of(json::parse(form.body)) == std::set<std::string>{"config.json", "sub"});

  const auto as_json = fetch("POST", url, {.headers = {"Content-Type: application/json"},
                                           .body = R"({"paths": ["model.safetensors"], "expand": true})"});
  REQUIRE(as_json.status == 200);
  const auto entries = json::parse(as_json.body);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].at("lfs").at("oid") == sha256_hex(hub.model_bytes));
  CHECK(entries[0].contains("lastCommit"));
}

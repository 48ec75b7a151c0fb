// Unit tests of the pieces without sockets: ranges, URLs, hashes, LFS rules, fault JSON.
#include "tests/hubserver/byte_range.hpp"
#include "tests/hubserver/commit.hpp"
#include "tests/hubserver/fault.hpp"
#include "tests/hubserver/file_hashes.hpp"
#include "tests/hubserver/repository.hpp"
#include "tests/hubserver/test_support.hpp"
#include "tests/hubserver/url.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

using namespace timmd::testhub;
using Kind = ByteRangeResult::Kind;

TEST_CASE("byte range forms") {
  struct Case {
    const char* header;
    std::uint64_t size;
    Kind kind;
    std::uint64_t first;
    std::uint64_t last;
  };
  const Case cases[] = {
      {"", 100, Kind::whole, 0, 0},
      {"bytes=0-0", 100, Kind::partial, 0, 0},
      {"bytes=10-19", 100, Kind::partial, 10, 19},
      {"bytes=10-", 100, Kind::partial, 10, 99},
      {"bytes=-30", 100, Kind::partial, 70, 99},
      {"bytes=-300", 100, Kind::partial, 0, 99},
      {"bytes=90-200", 100, Kind::partial, 90, 99},
      {"bytes=100-", 100, Kind::unsatisfiable, 0, 0},
      {"bytes=150-160", 100, Kind::unsatisfiable, 0, 0},
      {"bytes=-0", 100, Kind::unsatisfiable, 0, 0},
      {"bytes=0-0", 0, Kind::unsatisfiable, 0, 0},
      {"bytes=20-10", 100, Kind::whole, 0, 0},
      {"bytes=0-1,5-6", 100, Kind::whole, 0, 0},
      {"items=0-1", 100, Kind::whole, 0, 0},
      {"bytes=x-1", 100, Kind::whole, 0, 0},
  };
  for (const auto& test : cases) {
    CAPTURE(test.header);
    const auto result = parse_byte_range(test.header, test.size);
    CHECK(result.kind == test.kind);
    if (test.kind == Kind::partial) {
      CHECK(result.first == test.first);
      CHECK(result.last == test.last);
    }
  }
}

TEST_CASE("percent decoding and encoding") {
  CHECK(percent_decode("refs%2Fpr%2F1") == "refs/pr/1");
  CHECK(percent_decode("a%20b+c") == "a b+c");
  CHECK(percent_decode("%C3%BC") == "\xc3\xbc");
  CHECK_FALSE(percent_decode("bad%2").has_value());
  CHECK_FALSE(percent_decode("bad%zz").has_value());
  CHECK(percent_encode("dir/a b#c%d", true) == "dir/a%20b%23c%25d");
  CHECK(percent_encode("refs/pr/1", false) == "refs%2Fpr%2F1");
}

TEST_CASE("query parameters") {
  const QueryParameters query("recursive=True&expand=false&cursor=2&name=a%20b&plus=c+d");
  CHECK(query.flag("recursive"));
  CHECK_FALSE(query.flag("expand"));
  CHECK_FALSE(query.flag("missing"));
  CHECK(query.get("cursor") == "2");
  CHECK(query.get("name") == "a b");
  CHECK(query.get("plus") == "c d");
}

TEST_CASE("glob star crosses slashes") {
  CHECK(glob_match("*", "/a/b/c"));
  CHECK(glob_match("*.safetensors", "/org/m/resolve/main/dir/model.safetensors"));
  CHECK(glob_match("/org/*/resolve/*", "/org/m/resolve/main/x"));
  CHECK(glob_match("file?.txt", "file1.txt"));
  CHECK_FALSE(glob_match("*.bin", "model.safetensors"));
  CHECK_FALSE(glob_match("a", "ab"));
}

TEST_CASE("git blob and sha256 of known content") {
  // `printf 'hello\n' | git hash-object --stdin` and `sha256sum`.
  CHECK(git_blob_sha1("hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a");
  CHECK(sha256_hex("hello\n") == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
  CHECK(git_blob_sha1("") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");

  testing::TempDir dir;
  testing::write_file(dir.path() / "hello.txt", "hello\n");
  CHECK(file_git_blob_sha1(dir.path() / "hello.txt") == "ce013625030ba8dba906f756967f9e9ca394464a");
  CHECK(file_sha256(dir.path() / "hello.txt") == sha256_hex("hello\n"));
}

TEST_CASE("lfs rules and pointer") {
  CHECK(is_lfs_path("model.safetensors", 10));
  CHECK(is_lfs_path("dir/pytorch_model.bin", 10));
  CHECK(is_lfs_path("archive.tar.gz", 10));
  CHECK(is_lfs_path("events.out.tfevents.123", 10));
  CHECK(is_lfs_path("saved_model/variables/x", 10));
  CHECK(is_lfs_path("big.txt", 10 * 1024 * 1024));
  CHECK_FALSE(is_lfs_path("config.json", 10 * 1024 * 1024 - 1));
  CHECK_FALSE(is_lfs_path("safetensors.json", 10));

  const auto pointer = lfs_pointer(std::string(64, 'a'), 123);
  CHECK(pointer == "version https://git-lfs.github.com/spec/v1\noid sha256:" + std::string(64, 'a') + "\nsize 123\n");
}

TEST_CASE("commit ids are deterministic and git tree ids are real") {
  testing::TempDir dir;
  testing::write_file(dir.path() / "hello.txt", "hello\n");
  testing::write_file(dir.path() / ".hub" / "config.json", "{}");
  const auto first = build_commit("org/x", dir.path(), "", "");
  const auto again = build_commit("org/x", dir.path(), "", "");
  const auto child = build_commit("org/x", dir.path(), first.id, "");
  CHECK(first.id == again.id);
  CHECK(first.id != child.id);
  CHECK(first.id.size() == 40);
  REQUIRE(first.files.size() == 1); // .hub is skipped
  // `git mktree` of one file hello.txt with "hello\n".
  CHECK(first.directories.at("") == "aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7");
}

TEST_CASE("revision resolution") {
  Repository repository;
  auto commit = std::make_shared<Commit>();
  commit->id = "0123456789abcdef0123456789abcdef01234567";
  repository.commits[commit->id] = commit;
  repository.refs["main"] = Ref{"main", RefKind::branch, commit->id};
  repository.refs["v1"] = Ref{"v1", RefKind::tag, commit->id};
  CHECK(repository.resolve("main") == commit);
  CHECK(repository.resolve("HEAD") == commit);
  CHECK(repository.resolve("refs/heads/main") == commit);
  CHECK(repository.resolve("refs/tags/v1") == commit);
  CHECK(repository.resolve(commit->id) == commit);
  CHECK(repository.resolve("0123456") == commit);
  CHECK(repository.resolve("012345") == nullptr);
  CHECK(repository.resolve("0123456789ABCDEF0123456789ABCDEF01234567") == nullptr);
  CHECK(repository.resolve("nope") == nullptr);
}

TEST_CASE("fault JSON round trip") {
  const auto json = nlohmann::json::parse(R"({"match": {"listener": "cdn", "method": "GET", "path": "*/x"},
      "count": 3, "kind": "status", "status": 429, "retry_after": 1, "message": "slow down"})");
  const auto fault = Fault::from_json(json);
  CHECK(fault.kind == FaultKind::status);
  CHECK(fault.match.listener == "cdn");
  CHECK(fault.match.method == "GET");
  CHECK(fault.match.path == "*/x");
  CHECK(fault.count == 3);
  CHECK(fault.status == 429);
  CHECK(fault.retry_after == 1U);
  CHECK_FALSE(fault.ratelimit_reset.has_value());
  const auto back = Fault::from_json(fault.to_json());
  CHECK(back.to_json() == fault.to_json());

  const auto defaults = Fault::from_json({{"kind", "weak_etag"}});
  CHECK(defaults.count == 1);
  CHECK(defaults.match.listener == "any");
  CHECK(defaults.match.path == "*");
}

TEST_CASE("invalid fault JSON is rejected") {
  CHECK_THROWS_AS(Fault::from_json({{"kind", "explode"}}), std::invalid_argument);
  CHECK_THROWS_AS(Fault::from_json({{"count", 1}}), std::invalid_argument);
  CHECK_THROWS_AS(Fault::from_json({{"kind", "close_after"}, {"bytes", "many"}}), std::invalid_argument);
  CHECK_THROWS_AS(Fault::from_json({{"kind", "drop_header"}}), std::invalid_argument);
  CHECK_THROWS_AS(Fault::from_json({{"kind", "status"}, {"status", 42}}), std::invalid_argument);
  CHECK_THROWS_AS(Fault::from_json({{"kind", "stall"}, {"match", {{"listener", "ftp"}}}}), std::invalid_argument);
  CHECK_THROWS_AS(Fault::from_json(nlohmann::json::array()), std::invalid_argument);
}

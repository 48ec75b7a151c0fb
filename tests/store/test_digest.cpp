#include "daemon/store/digest.hpp"

#include "helpers.hpp"

#include <doctest/doctest.h>

#include <string>

using timmd::proto::Errc;
using namespace timmd::store;
using namespace timmd::testing;

namespace {

std::string sha256_hex(std::string_view text) {
  auto hasher = Hasher::sha256();
  hasher.update(text);
  return hasher.final_hex();
}

std::string git_hex(std::string_view text) {
  auto hasher = Hasher::git_blob_sha1(text.size());
  hasher.update(text);
  return hasher.final_hex();
}

} // namespace

TEST_CASE("sha256 known vectors") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("git blob sha1 known vectors") {
  // `printf 'hello\n' | git hash-object --stdin` and `git hash-object /dev/null`.
  CHECK(git_hex("hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a");
  CHECK(git_hex("") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

TEST_CASE("hasher updates in pieces") {
  const auto content = make_content(10000, 1);
  auto hasher = Hasher::sha256();
  hasher.update(std::string_view(content).substr(0, 1));
  hasher.update(std::string_view(content).substr(1, 4999));
  hasher.update(std::as_bytes(std::span(content).subspan(5000)));
  CHECK(hasher.kind() == DigestKind::sha256);
  CHECK(hasher.final_hex() == sha256_hex(content));

  auto moved = Hasher::git_blob_sha1(content.size());
  auto git = std::move(moved);
  git.update(content);
  CHECK(git.kind() == DigestKind::git_sha1);
  CHECK(git.final_hex() == git_hex(content));
}

TEST_CASE("hex digest checks") {
  const std::string sha256(64, 'a');
  const std::string sha1(40, '0');
  CHECK(is_sha256_hex(sha256));
  CHECK(is_sha1_hex(sha1));
  CHECK_FALSE(is_sha256_hex(sha1));
  CHECK_FALSE(is_sha1_hex(sha256));
  CHECK_FALSE(is_sha256_hex(std::string(64, 'A')));
  CHECK_FALSE(is_sha256_hex(std::string(63, 'a')));
  CHECK_FALSE(is_sha256_hex(std::string(63, 'a') + "g"));
  CHECK_FALSE(is_sha1_hex("../" + std::string(37, 'a')));
  CHECK_FALSE(is_sha1_hex(""));
}

TEST_CASE("hash_file across several reads") {
  TempDir dir;
  // 2.5 MiB crosses the 1 MiB read size twice and ends in a short read.
  const auto content = make_content(5 * 512 * 1024, 2);
  write_file(dir / "data", content);

  const auto sha256 = hash_file(dir / "data", DigestKind::sha256);
  REQUIRE(sha256);
  CHECK(*sha256 == sha256_hex(content));

  const auto git = hash_file(dir / "data", DigestKind::git_sha1);
  REQUIRE(git);
  CHECK(*git == git_hex(content));
}

TEST_CASE("hash_file_into feeds every hasher") {
  TempDir dir;
  write_file(dir / "hello", "hello\n");
  auto sha256 = Hasher::sha256();
  auto git = Hasher::git_blob_sha1(6);
  Hasher* const hashers[] = {&sha256, &git};

  REQUIRE(hash_file_into(dir / "hello", hashers));
  CHECK(sha256.final_hex() == sha256_hex("hello\n"));
  CHECK(git.final_hex() == "ce013625030ba8dba906f756967f9e9ca394464a");
}

TEST_CASE("hash_file of empty file") {
  TempDir dir;
  write_file(dir / "empty", "");
  CHECK(hash_file(dir / "empty", DigestKind::sha256).value() ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hash_file(dir / "empty", DigestKind::git_sha1).value() ==
        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

TEST_CASE("hash_file of missing file") {
  TempDir dir;
  for (const auto kind : {DigestKind::sha256, DigestKind::git_sha1}) {
    const auto result = hash_file(dir / "missing", kind);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == Errc::not_found);
    CHECK(result.error().message.find((dir / "missing").string()) != std::string::npos);
  }
}

TEST_CASE("hash_file of a directory") {
  TempDir dir;
  const auto result = hash_file(dir.path(), DigestKind::sha256);
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::internal);
  CHECK(result.error().message.find(dir.path().string()) != std::string::npos);
}

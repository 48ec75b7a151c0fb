#include "daemon/store/blob_store.hpp"

#include "store_fixture.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <sys/stat.h>

using timmd::proto::Errc;
using namespace timmd::store;
using namespace timmd::testing;

namespace {

ino_t inode_of(const std::filesystem::path& path) {
  struct stat status {};
  REQUIRE(::stat(path.c_str(), &status) == 0);
  return status.st_ino;
}

} // namespace

TEST_CASE("publish moves a file into place") {
  TempDir dir;
  const auto layout = CacheLayout::open(dir.path()).value();
  const BlobStore blobs(layout);
  const std::string content = "hello\n";
  const auto sha256 = sha256_of(content);
  const auto tmp = layout.tmp_dir() / "upload";
  write_file(tmp, content);
  CHECK_FALSE(blobs.contains(sha256));

  REQUIRE(blobs.publish(tmp, sha256));

  CHECK(blobs.contains(sha256));
  CHECK(blobs.path(sha256) == layout.blobs_dir() / sha256.substr(0, 2) / sha256);
  CHECK(read_file(blobs.path(sha256)) == content);
  CHECK(file_mode(blobs.path(sha256)) == 0444);
  CHECK_FALSE(std::filesystem::exists(tmp));
}

TEST_CASE("publish of an already present blob") {
  TempDir dir;
  const auto layout = CacheLayout::open(dir.path()).value();
  const BlobStore blobs(layout);
  const std::string content = "same bytes";
  const auto sha256 = sha256_of(content);
  write_file(layout.tmp_dir() / "first", content);
  REQUIRE(blobs.publish(layout.tmp_dir() / "first", sha256));
  const auto inode = inode_of(blobs.path(sha256));

  write_file(layout.tmp_dir() / "second", content);
  REQUIRE(blobs.publish(layout.tmp_dir() / "second", sha256));

  CHECK_FALSE(std::filesystem::exists(layout.tmp_dir() / "second"));
  CHECK(inode_of(blobs.path(sha256)) == inode);
  CHECK(read_file(blobs.path(sha256)) == content);
}

TEST_CASE("publish of an empty file") {
  TempDir dir;
  const auto layout = CacheLayout::open(dir.path()).value();
  const BlobStore blobs(layout);
  const auto sha256 = sha256_of("");
  write_file(layout.tmp_dir() / "empty", "");

  REQUIRE(blobs.publish(layout.tmp_dir() / "empty", sha256));
  CHECK(blobs.contains(sha256));
  CHECK(std::filesystem::file_size(blobs.path(sha256)) == 0);
}

TEST_CASE("publish with an invalid name") {
  TempDir dir;
  const auto layout = CacheLayout::open(dir.path()).value();
  const BlobStore blobs(layout);
  write_file(layout.tmp_dir() / "upload", "x");

  const std::vector<std::string> names = {
    "../../escape", std::string(64, 'A'), std::string(40, 'a')};
  for (const auto& name : names) {
    const auto result = blobs.publish(layout.tmp_dir() / "upload", name);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == Errc::invalid_request);
    CHECK(result.error().message.find(name) != std::string::npos);
  }
  CHECK(std::filesystem::exists(layout.tmp_dir() / "upload"));
}

TEST_CASE("publish of a missing file") {
  TempDir dir;
  const auto layout = CacheLayout::open(dir.path()).value();
  const BlobStore blobs(layout);
  const auto sha256 = sha256_of("never written");

  const auto result = blobs.publish(layout.tmp_dir() / "missing", sha256);
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::internal);
  CHECK(result.error().message.find((layout.tmp_dir() / "missing").string()) != std::string::npos);
  CHECK_FALSE(blobs.contains(sha256));
}

TEST_CASE("remove a blob") {
  TempDir dir;
  const auto layout = CacheLayout::open(dir.path()).value();
  const BlobStore blobs(layout);
  const auto sha256 = sha256_of("to remove");
  write_file(layout.tmp_dir() / "upload", "to remove");
  REQUIRE(blobs.publish(layout.tmp_dir() / "upload", sha256));

  REQUIRE(blobs.remove(sha256));
  CHECK_FALSE(blobs.contains(sha256));
  CHECK(blobs.remove(sha256)); // already gone is fine
  CHECK(blobs.remove("not-a-hash").error().code == Errc::invalid_request);
}

TEST_CASE("contains rejects invalid names") {
  TempDir dir;
  const auto layout = CacheLayout::open(dir.path()).value();
  const BlobStore blobs(layout);
  CHECK_FALSE(blobs.contains(""));
  CHECK_FALSE(blobs.contains("../lock"));
  CHECK_FALSE(blobs.contains(std::string(64, 'a')));
}

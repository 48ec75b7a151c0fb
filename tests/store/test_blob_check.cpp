// Reading blob files back for `verify`: hashes, sizes and missing files.
#include "daemon/store/blob_check.hpp"

#include "helpers.hpp"

#include <doctest/doctest.h>

using namespace timmd::store;
using namespace timmd::testing;

TEST_CASE("blob check hashes content and git oid") {
  TempDir dir;
  const auto content = make_content(3 * 1024 * 1024 + 17, 4);
  write_file(dir / "blob", content);

  std::uint64_t reported = 0;
  auto state = read_blob_file(dir / "blob", true, content.size(), [&](std::uint64_t bytes) { reported += bytes; });
  REQUIRE(state);
  CHECK(state->exists);
  CHECK(state->size == content.size());
  CHECK(state->sha256 == sha256_of(content));
  CHECK(state->git_oid == git_oid_of(content));
  CHECK(reported == content.size());

  auto without_git = read_blob_file(dir / "blob", false, std::nullopt, {});
  REQUIRE(without_git);
  CHECK(without_git->git_oid.empty());
}

TEST_CASE("blob check of a missing file") {
  TempDir dir;
  auto state = read_blob_file(dir / "absent", true, std::nullopt, {});
  REQUIRE(state);
  CHECK_FALSE(state->exists);
}

TEST_CASE("blob check skips hashing on a size mismatch") {
  TempDir dir;
  write_file(dir / "blob", "short");
  auto state = read_blob_file(dir / "blob", false, 100, {});
  REQUIRE(state);
  CHECK(state->exists);
  CHECK(state->size == 5);
  CHECK(state->sha256.empty());
}

#include "daemon/store/cache_layout.hpp"

#include "helpers.hpp"

#include <doctest/doctest.h>

#include <string>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using timmd::proto::Errc;
using namespace timmd::store;
using namespace timmd::testing;

namespace {

unsigned current_umask() {
  const auto mask = ::umask(0);
  ::umask(mask);
  return mask;
}

} // namespace

TEST_CASE("cache layout creates its directories") {
  TempDir dir;
  const auto root = dir / "a" / "b" / "cache";

  auto layout = CacheLayout::open(root);
  REQUIRE(layout);
  CHECK(layout->root() == root);
  CHECK(std::filesystem::is_directory(layout->blobs_dir()));
  CHECK(std::filesystem::is_directory(layout->tmp_dir()));
  CHECK(std::filesystem::is_regular_file(root / "lock"));
  CHECK(layout->index_path() == root / "index.sqlite3");

  const unsigned expected = 0755 & ~current_umask();
  CHECK(file_mode(dir / "a") == expected);
  CHECK(file_mode(root) == expected);
  CHECK(file_mode(layout->blobs_dir()) == expected);
  CHECK(file_mode(layout->tmp_dir()) == expected);
}

TEST_CASE("cache layout paths") {
  TempDir dir;
  const auto layout = CacheLayout::open(dir.path()).value();
  const std::string sha256 = "ab" + std::string(62, 'c');

  CHECK(layout.blob_path(sha256) == dir.path() / "blobs" / "sha256" / "ab" / sha256);
  CHECK(layout.partial_path(std::string(40, 'f')) ==
        dir.path() / "tmp" / (std::string(40, 'f') + ".partial"));
}

TEST_CASE("second lock holder gets busy") {
  TempDir dir;
  auto first = CacheLayout::open(dir.path());
  REQUIRE(first);

  const auto second = CacheLayout::open(dir.path());
  REQUIRE_FALSE(second);
  CHECK(second.error().code == Errc::busy);
  CHECK(second.error().message.find(dir.path().string()) != std::string::npos);
  CHECK(second.error().message.find("pid") != std::string::npos);
}

TEST_CASE("lock held against another process") {
  TempDir dir;
  const auto layout = CacheLayout::open(dir.path()).value();

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const auto second = CacheLayout::open(dir.path());
    ::_exit(!second && second.error().code == Errc::busy ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("lock follows a moved layout") {
  TempDir dir;
  std::optional<CacheLayout> owner;
  {
    auto opened = CacheLayout::open(dir.path());
    REQUIRE(opened);
    owner.emplace(std::move(*opened));
  }
  // The moved-from layout was destroyed above; the lock must still be held.
  CHECK(CacheLayout::open(dir.path()).error().code == Errc::busy);

  owner.reset();
  CHECK(CacheLayout::open(dir.path()));
}

TEST_CASE("lock released on destruction") {
  TempDir dir;
  { const auto first = CacheLayout::open(dir.path()).value(); }
  CHECK(CacheLayout::open(dir.path()));
}

TEST_CASE("cache root that is a file") {
  TempDir dir;
  write_file(dir / "file", "not a directory");

  const auto layout = CacheLayout::open(dir / "file");
  REQUIRE_FALSE(layout);
  CHECK(layout.error().code == Errc::internal);
  CHECK(layout.error().message.find((dir / "file").string()) != std::string::npos);
}

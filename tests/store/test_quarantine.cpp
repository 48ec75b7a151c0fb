// Quarantine of damaged blob files: the bytes are kept under a name that records the expected
// hash and the time, and nothing is ever overwritten.
#include "daemon/store/quarantine.hpp"

#include "store_fixture.hpp"

#include <doctest/doctest.h>

using timmd::proto::Errc;
using namespace timmd::store;
using namespace timmd::testing;

namespace {

// 2026-01-02 03:04:05 UTC.
const auto k_time = std::chrono::system_clock::from_time_t(1767323045);

} // namespace

TEST_CASE("quarantine keeps the bytes under hash and time") {
  TempDir dir;
  OpenCache cache(dir.path());
  const std::string name(64, 'a');
  const auto blob = cache.layout.blob_path(name);
  write_file(blob, "damaged bytes");

  auto moved = quarantine_file(cache.layout, blob, name, k_time);
  REQUIRE(moved);
  CHECK(*moved == cache.layout.quarantine_dir() / (name + ".20260102T030405Z"));
  CHECK(read_file(*moved) == "damaged bytes");
  CHECK_FALSE(std::filesystem::exists(blob));
}

TEST_CASE("quarantine never replaces an earlier file") {
  TempDir dir;
  OpenCache cache(dir.path());
  const std::string name(64, 'b');
  const auto blob = cache.layout.blob_path(name);

  for (const auto* content : {"first", "second", "third"}) {
    write_file(blob, content);
    REQUIRE(quarantine_file(cache.layout, blob, name, k_time));
  }
  const auto base = cache.layout.quarantine_dir() / (name + ".20260102T030405Z");
  CHECK(read_file(base) == "first");
  CHECK(read_file(base.string() + ".2") == "second");
  CHECK(read_file(base.string() + ".3") == "third");
}

TEST_CASE("quarantine of a missing file is not_found") {
  TempDir dir;
  OpenCache cache(dir.path());
  auto moved = quarantine_file(cache.layout, cache.layout.blob_path(std::string(64, 'c')), "x", k_time);
  REQUIRE_FALSE(moved);
  CHECK(moved.error().code == Errc::not_found);
}

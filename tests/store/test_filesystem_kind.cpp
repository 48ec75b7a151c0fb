#include "daemon/store/filesystem_kind.hpp"

#include "helpers.hpp"

#include <doctest/doctest.h>

#include <string>

using timmd::proto::Errc;
using namespace timmd::store;
using namespace timmd::testing;

TEST_CASE("network filesystem magic numbers") {
  CHECK(network_filesystem_name(0x6969) == "NFS");
  CHECK(network_filesystem_name(0xFF534D42) == "CIFS");
  CHECK(network_filesystem_name(0xFE534D42) == "SMB2");
  CHECK(network_filesystem_name(0x00C36400) == "Ceph");
  CHECK(network_filesystem_name(0x65735546) == "FUSE");
  CHECK(network_filesystem_name(0x0BD00BD0) == "Lustre");
}

TEST_CASE("local filesystem magic numbers") {
  CHECK_FALSE(network_filesystem_name(0xEF53).has_value());     // ext2/3/4
  CHECK_FALSE(network_filesystem_name(0x58465342).has_value()); // XFS
  CHECK_FALSE(network_filesystem_name(0x9123683E).has_value()); // Btrfs
  CHECK_FALSE(network_filesystem_name(0x01021994).has_value()); // tmpfs
  CHECK_FALSE(network_filesystem_name(0x794C7630).has_value()); // overlayfs
  CHECK_FALSE(network_filesystem_name(0x2FC12FC1).has_value()); // ZFS
}

TEST_CASE("scratch directory passes check") {
  TempDir dir;
  CHECK(check_local_filesystem(dir.path()));
}

TEST_CASE("missing directory error names path") {
  TempDir dir;
  const auto missing = dir / "missing";
  const auto result = check_local_filesystem(missing);
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::internal);
  CHECK(result.error().message.find(missing.string()) != std::string::npos);
}

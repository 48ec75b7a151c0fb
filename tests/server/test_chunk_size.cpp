#include "daemon/server/chunk_size.hpp"

#include <doctest/doctest.h>

using timmd::server::chunk_size_for;
using timmd::server::DownloadConfig;

namespace {

constexpr std::uint64_t k_mib = 1024 * 1024;

DownloadConfig download(std::uint64_t chunk_size, int connections) {
  DownloadConfig config;
  config.chunk_size = chunk_size;
  config.connections_per_file = connections;
  return config;
}

} // namespace

TEST_CASE("large file gets configured chunk size") {
  CHECK(chunk_size_for(2048 * k_mib, download(32 * k_mib, 8)) == 32 * k_mib);
  CHECK(chunk_size_for(1024 * k_mib, download(32 * k_mib, 8)) == 32 * k_mib);
}

TEST_CASE("mid-sized file gets four chunks per connection") {
  CHECK(chunk_size_for(256 * k_mib, download(32 * k_mib, 8)) == 8 * k_mib);
  // 300 MiB / 32 chunks is 9.375 MiB, rounded up.
  CHECK(chunk_size_for(300 * k_mib, download(32 * k_mib, 8)) == 10 * k_mib);
  CHECK(chunk_size_for(256 * k_mib, download(32 * k_mib, 2)) == 32 * k_mib);
}

TEST_CASE("small file gets the chunk floor") {
  CHECK(chunk_size_for(20 * k_mib, download(32 * k_mib, 8)) == 4 * k_mib);
  CHECK(chunk_size_for(0, download(32 * k_mib, 8)) == 4 * k_mib);
  CHECK(chunk_size_for(20 * k_mib, download(k_mib, 8)) == k_mib);
  CHECK(chunk_size_for(20 * k_mib, download(64 * 1024, 1)) == 64 * 1024);
}

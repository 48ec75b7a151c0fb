#include "daemon/server/chunk_size.hpp"

#include <algorithm>

namespace timmd::server {
namespace {

constexpr std::uint64_t k_mib = 1024 * 1024;
constexpr std::uint64_t k_chunks_per_connection = 4;
constexpr std::uint64_t k_min_chunk = 4 * k_mib;

} // namespace

std::uint64_t chunk_size_for(std::uint64_t file_size, const DownloadConfig& download) {
  const auto largest = download.chunk_size;
  const auto smallest = std::min(k_min_chunk, largest);
  const auto chunks = k_chunks_per_connection * static_cast<std::uint64_t>(std::max(download.connections_per_file, 1));

  const auto even_share = file_size / chunks + (file_size % chunks != 0 ? 1 : 0);
  const auto whole_mib = (even_share + k_mib - 1) / k_mib * k_mib;
  return std::clamp(whole_mib, smallest, largest);
}

} // namespace timmd::server

// The chunk size of a new download. A chunk is the unit of one ranged GET, of resume and of
// hashing ahead. A file of only a few chunks leaves connections idle and then waits for its last
// chunk, so smaller files get smaller chunks. A floor keeps the fdatasync and index write that
// complete each chunk small against the chunk's transfer.
#pragma once

#include "daemon/server/config.hpp"

#include <cstdint>

namespace timmd::server {

// About k_chunks_per_connection chunks for each of download.connections_per_file connections,
// in whole MiB, between min(4 MiB, download.chunk_size) and download.chunk_size.
std::uint64_t chunk_size_for(std::uint64_t file_size, const DownloadConfig& download);

} // namespace timmd::server

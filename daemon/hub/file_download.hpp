// Fetches one file into a DownloadSink: its missing chunks as parallel ranged GETs, each
// retried from the last byte received, with a fallback to one full stream when the server
// ignores Range. The number of connections adapts. It starts at initial_connections and doubles
// while each doubling raises the throughput, up to `connections`, and a 429 or 503 halves it.
//
// Thread safety: run on the CurlMulti's executor thread.
#pragma once

#include "daemon/hub/connection_limits.hpp"
#include "daemon/hub/download_sink.hpp"
#include "daemon/hub/hub_client.hpp"
#include "proto/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace timmd::hub {

struct FileDownloadRequest {
  std::string repo;
  std::string commit;
  std::string path;
  std::string url;                  // the download URL from file_metadata()
  int connections = 8;              // maximum parallel ranges for this file
  int initial_connections = 4;      // ranges at the start; at most `connections`
  std::chrono::seconds deadline{0}; // whole file; 0: none
};

// Progress callback: total bytes of the file now in the sink (completed chunks included).
using ProgressCallback = std::function<void(std::uint64_t bytes_done)>;

// Downloads every chunk the sink lacks. `blocking` runs complete_chunk() off the I/O thread.
// Returns once all chunks are complete, or the first error that retries could not overcome.
boost::asio::awaitable<proto::Result<void>> download_file(HubClient& hub, ConnectionLimits& limits,
                                                          boost::asio::any_io_executor blocking, DownloadSink& sink,
                                                          const FileDownloadRequest& request,
                                                          ProgressCallback on_progress);

} // namespace timmd::hub

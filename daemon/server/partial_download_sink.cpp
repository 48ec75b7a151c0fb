#include "daemon/server/partial_download_sink.hpp"

#include <boost/asio/post.hpp>

namespace timmd::server {
namespace {

// One chunk per step, each step posted anew, so that a long hashed prefix (a resumed 2 GB
// file) does not hold a pool thread that fsyncs and open requests also need.
void post_hash_step(boost::asio::any_io_executor blocking, std::shared_ptr<store::PartialDownload> partial) {
  boost::asio::post(blocking, [blocking, partial]() mutable {
    if (partial->hash_next_chunk()) {
      post_hash_step(std::move(blocking), std::move(partial));
    }
  });
}

} // namespace

proto::Result<void> PartialDownloadSink::complete_chunk(std::size_t chunk) {
  auto completed = m_partial->complete_chunk(chunk);
  if (completed) {
    post_hash_step(m_blocking, m_partial);
  }
  return completed;
}

void PartialDownloadSink::start_hashing() {
  post_hash_step(m_blocking, m_partial);
}

} // namespace timmd::server

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

PartialDownloadSink::PartialDownloadSink(std::shared_ptr<store::PartialDownload> partial,
                                         boost::asio::any_io_executor blocking, std::string_view repo,
                                         std::string_view path)
    : m_partial(std::move(partial)),
      m_blocking(std::move(blocking)),
      m_error_prefix("cannot store '" + std::string(path) + "' of " + std::string(repo) + ": ") {}

proto::Result<void> PartialDownloadSink::write(std::uint64_t offset, std::span<const std::byte> data) {
  return name_file(m_partial->write(offset, data));
}

proto::Result<void> PartialDownloadSink::complete_chunk(std::size_t chunk) {
  auto completed = m_partial->complete_chunk(chunk);
  if (completed) {
    post_hash_step(m_blocking, m_partial);
  }
  return name_file(std::move(completed));
}

proto::Result<void> PartialDownloadSink::name_file(proto::Result<void> result) const {
  if (result) {
    return result;
  }
  auto error = std::move(result).error();
  error.message = m_error_prefix + error.message;
  return error;
}

void PartialDownloadSink::start_hashing() {
  post_hash_step(m_blocking, m_partial);
}

} // namespace timmd::server

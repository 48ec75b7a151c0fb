// Lets the Hub client write into a store::PartialDownload without depending on the store, and
// keeps the partial's hashing a chunk behind the download. Store errors (a full disk, a failed
// index write) name only the partial or the index, so the sink adds the repository file.
#pragma once

#include "daemon/hub/download_sink.hpp"
#include "daemon/store/partial_download.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace timmd::server {

class PartialDownloadSink final : public hub::DownloadSink {
public:
  // `blocking` runs the hashing steps; they hold a reference to the partial, so it lives until
  // the last one ends. `repo` and `path` name the file in errors.
  PartialDownloadSink(std::shared_ptr<store::PartialDownload> partial, boost::asio::any_io_executor blocking,
                      std::string_view repo, std::string_view path);

  std::uint64_t size() const override { return m_partial->plan().size; }
  std::size_t chunk_count() const override { return m_partial->chunk_count(); }
  std::uint64_t chunk_begin(std::size_t chunk) const override { return m_partial->chunk_begin(chunk); }
  std::uint64_t chunk_end(std::size_t chunk) const override { return m_partial->chunk_end(chunk); }
  bool chunk_done(std::size_t chunk) const override { return m_partial->chunk_done(chunk); }

  proto::Result<void> write(std::uint64_t offset, std::span<const std::byte> data) override;

  // Completes the chunk, then schedules hashing of whatever prefix is now contiguous. The
  // hashing is not awaited: the download goes on while the worker pool reads the chunk back.
  proto::Result<void> complete_chunk(std::size_t chunk) override;

  // Schedules hashing of the chunks already complete, e.g. those a resumed download kept.
  void start_hashing();

private:
  // Prefixes a failed result's message with the repository file.
  proto::Result<void> name_file(proto::Result<void> result) const;

  std::shared_ptr<store::PartialDownload> m_partial;
  boost::asio::any_io_executor m_blocking;
  std::string m_error_prefix;
};

} // namespace timmd::server

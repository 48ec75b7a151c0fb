// Lets the Hub client write into a store::PartialDownload without depending on the store.
#pragma once

#include "daemon/hub/download_sink.hpp"
#include "daemon/store/partial_download.hpp"

namespace timmd::server {

class PartialDownloadSink final : public hub::DownloadSink {
public:
  explicit PartialDownloadSink(store::PartialDownload& partial) : m_partial(partial) {}

  std::uint64_t size() const override { return m_partial.plan().size; }
  std::size_t chunk_count() const override { return m_partial.chunk_count(); }
  std::uint64_t chunk_begin(std::size_t chunk) const override { return m_partial.chunk_begin(chunk); }
  std::uint64_t chunk_end(std::size_t chunk) const override { return m_partial.chunk_end(chunk); }
  bool chunk_done(std::size_t chunk) const override { return m_partial.chunk_done(chunk); }

  proto::Result<void> write(std::uint64_t offset, std::span<const std::byte> data) override {
    return m_partial.write(offset, data);
  }
  proto::Result<void> complete_chunk(std::size_t chunk) override { return m_partial.complete_chunk(chunk); }

private:
  store::PartialDownload& m_partial;
};

} // namespace timmd::server

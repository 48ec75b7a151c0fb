// Destination of a file download. The store's partial downloads implement it, so the Hub
// client does not depend on the store otherwise.
#pragma once

#include "proto/error.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace timmd::hub {

class DownloadSink {
public:
  virtual ~DownloadSink() = default;

  virtual std::uint64_t size() const = 0;
  virtual std::size_t chunk_count() const = 0;
  virtual std::uint64_t chunk_begin(std::size_t chunk) const = 0;
  virtual std::uint64_t chunk_end(std::size_t chunk) const = 0; // exclusive
  virtual bool chunk_done(std::size_t chunk) const = 0;

  // Writes at an absolute offset; called on the I/O thread.
  virtual proto::Result<void> write(std::uint64_t offset, std::span<const std::byte> data) = 0;

  // Makes a fully written chunk durable and records it; may block, so it runs on the worker
  // pool. Chunks are completed concurrently for distinct indexes.
  virtual proto::Result<void> complete_chunk(std::size_t chunk) = 0;
};

} // namespace timmd::hub

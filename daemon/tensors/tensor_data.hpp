// Reading one tensor's elements from a checkpoint file.
#pragma once

#include "daemon/tensors/byte_source.hpp"
#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/tensor_info.hpp"

#include <cstddef>
#include <memory>
#include <span>

namespace timmd::tensors {

// Heap bytes at a chosen alignment, freed by the destructor.
class AlignedBuffer {
public:
  AlignedBuffer() = default;
  // REQUIRES: `alignment` is a power of two.
  AlignedBuffer(std::size_t size, std::size_t alignment);

  std::span<std::byte> bytes() { return {m_data.get(), m_size}; }
  std::span<const std::byte> bytes() const { return {m_data.get(), m_size}; }
  std::size_t alignment() const { return m_alignment; }

private:
  struct Free {
    std::size_t alignment;
    void operator()(std::byte* p) const;
  };
  std::unique_ptr<std::byte[], Free> m_data{nullptr, Free{1}};
  std::size_t m_size = 0;
  std::size_t m_alignment = 1;
};

// Writes the tensor's elements into `out` in row-major order: strided views and
// Fortran-ordered arrays are gathered, DEFLATED npz members inflated. `out` must be exactly
// contiguous_byte_size(info.dtype, info.shape) bytes. Fails when the file no longer matches
// `info` (truncated, corrupt deflate data).
proto::Result<void> read_tensor_into(const ByteSource& source, const TensorInfo& info,
                                     std::span<std::byte> out, const ReadLimits& limits = {});

// Same as read_tensor_into, into a new buffer aligned to `alignment` bytes (a power of two),
// for callers that need an aligned copy of a tensor the file stores unaligned.
proto::Result<AlignedBuffer> read_tensor(const ByteSource& source, const TensorInfo& info,
                                         std::size_t alignment = 64, const ReadLimits& limits = {});

} // namespace timmd::tensors

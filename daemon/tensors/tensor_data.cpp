#include "daemon/tensors/tensor_data.hpp"

#include "daemon/tensors/zip_reader.hpp"

#include <cstring>
#include <new>

namespace timmd::tensors {

AlignedBuffer::AlignedBuffer(std::size_t size, std::size_t alignment)
  : m_data(static_cast<std::byte*>(::operator new[](size == 0 ? 1 : size, std::align_val_t{alignment})),
           Free{alignment}),
    m_size(size), m_alignment(alignment) {}

void AlignedBuffer::Free::operator()(std::byte* p) const {
  ::operator delete[](p, std::align_val_t{alignment});
}

namespace {

// Copies elements of a strided view, stored from the start of `stored`, into row-major `out`.
void gather(const TensorInfo& info, std::span<const std::byte> stored, std::span<std::byte> out) {
  const std::size_t element_size = bit_width(info.dtype) / 8;
  const auto rank = info.shape.size();
  std::vector<std::uint64_t> index(rank, 0);
  std::size_t written = 0;
  while (written < out.size()) {
    std::uint64_t element = 0;
    for (std::size_t d = 0; d < rank; ++d) {
      element += index[d] * info.strides[d];
    }
    std::memcpy(out.data() + written, stored.data() + element * element_size, element_size);
    written += element_size;
    for (std::size_t d = rank; d-- > 0;) {
      if (++index[d] < info.shape[d]) {
        break;
      }
      index[d] = 0;
    }
  }
}

proto::Result<std::vector<std::byte>> load_stored(const ByteSource& source, const TensorInfo& info,
                                                  const ReadLimits& limits) {
  if (!info.deflated) {
    return source.read_vector(info.offset, info.length);
  }
  const auto nbytes = contiguous_byte_size(info.dtype, info.shape).value_or(0);
  const auto total = info.inflated_offset + nbytes;
  if (total > limits.max_inflated_bytes) {
    return invalid_checkpoint(source.name(), "tensor \"" + info.name + "\" inflates to more than " +
                                                 std::to_string(limits.max_inflated_bytes) +
                                                 " bytes (ReadLimits::max_inflated_bytes)");
  }
  ZipEntry entry;
  entry.name = info.name + ".npy";
  entry.method = k_zip_deflated;
  entry.data_offset = info.offset;
  entry.compressed_size = info.length;
  entry.uncompressed_size = total;
  auto inflated = read_zip_entry_prefix(source, entry, total);
  if (!inflated) {
    return inflated.error();
  }
  if (inflated->size() != total) {
    return invalid_checkpoint(source.name(), "tensor \"" + info.name + "\": deflate stream ends after " +
                                                 std::to_string(inflated->size()) + " of " +
                                                 std::to_string(total) + " bytes");
  }
  inflated->erase(inflated->begin(), inflated->begin() + static_cast<std::ptrdiff_t>(info.inflated_offset));
  return inflated;
}

} // namespace

proto::Result<void> read_tensor_into(const ByteSource& source, const TensorInfo& info,
                                     std::span<std::byte> out, const ReadLimits& limits) {
  const auto nbytes = contiguous_byte_size(info.dtype, info.shape);
  if (!nbytes || *nbytes != out.size()) {
    return proto::make_error(proto::Errc::internal, "tensor \"" + info.name + "\" needs " +
                                                        std::to_string(nbytes.value_or(0)) +
                                                        " bytes, the buffer has " +
                                                        std::to_string(out.size()));
  }
  if (!info.deflated && info.contiguous) {
    return source.read_at(info.offset, out);
  }
  auto stored = load_stored(source, info, limits);
  if (!stored) {
    return stored.error();
  }
  if (info.contiguous) {
    if (stored->size() != out.size()) {
      return invalid_checkpoint(source.name(), "tensor \"" + info.name + "\" data size mismatch");
    }
    std::memcpy(out.data(), stored->data(), out.size());
    return {};
  }
  // The reach of the strides is checked here too, so a hand-built TensorInfo cannot make the
  // gather read outside `stored`.
  std::uint64_t last = 0;
  for (std::size_t d = 0; d < info.shape.size() && !out.empty(); ++d) {
    std::uint64_t reach = 0;
    if (d >= info.strides.size() ||
        __builtin_mul_overflow(info.shape[d] - 1, info.strides[d], &reach) ||
        __builtin_add_overflow(last, reach, &last)) {
      return invalid_checkpoint(source.name(), "tensor \"" + info.name + "\" has invalid strides");
    }
  }
  const std::uint64_t element_size = bit_width(info.dtype) / 8;
  if (!out.empty() && (element_size == 0 || last >= stored->size() / element_size)) {
    return invalid_checkpoint(source.name(), "tensor \"" + info.name +
                                                 "\" strides reach past its stored bytes");
  }
  gather(info, *stored, out);
  return {};
}

proto::Result<AlignedBuffer> read_tensor(const ByteSource& source, const TensorInfo& info,
                                         std::size_t alignment, const ReadLimits& limits) {
  const auto nbytes = contiguous_byte_size(info.dtype, info.shape);
  if (!nbytes) {
    return invalid_checkpoint(source.name(), "tensor \"" + info.name + "\" size overflows");
  }
  AlignedBuffer buffer(static_cast<std::size_t>(*nbytes), alignment);
  if (auto read = read_tensor_into(source, info, buffer.bytes(), limits); !read) {
    return read.error();
  }
  return buffer;
}

} // namespace timmd::tensors

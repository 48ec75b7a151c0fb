// Fuzzes the zip central-directory reader, entry inflation and the torch zip and npz readers.
#include "daemon/tensors/npy_reader.hpp"
#include "daemon/tensors/tensor_data.hpp"
#include "daemon/tensors/torch_reader.hpp"
#include "daemon/tensors/zip_reader.hpp"
#include "tests/fuzz/fuzz_limits.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace timmd::tensors;
  const MemorySource source(std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz.zip");
  const auto limits = fuzz::limits();
  const auto archive = ZipArchive::open(source, limits);
  if (!archive) {
    return 0;
  }
  for (const auto& entry : archive->entries()) {
    if (!range_fits(entry.data_offset, entry.compressed_size, size)) {
      __builtin_trap();
    }
    (void)read_zip_entry(source, entry, 1U << 20U);
  }

  for (const auto& checkpoint : {read_torch_zip(source, limits), read_npz(source, limits)}) {
    if (!checkpoint) {
      continue;
    }
    for (const auto& tensor : checkpoint->tensors) {
      const auto bytes = contiguous_byte_size(tensor.dtype, tensor.shape);
      if (bytes && *bytes <= (1U << 20U)) {
        (void)read_tensor(source, tensor, 64, limits);
      }
    }
  }
  return 0;
}

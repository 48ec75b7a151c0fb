// Fuzzes the .npy header parser (magic, version, length and the Python dict literal).
#include "daemon/tensors/npy_reader.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto header = timmd::tensors::parse_npy_header(
    std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz.npy");
  if (header && header->data_offset > size) {
    __builtin_trap();
  }
  return 0;
}

// Fuzzes the safetensors reader: header length, UTF-8, JSON and tiling checks.
#include "daemon/tensors/safetensors_reader.hpp"
#include "tests/fuzz/fuzz_limits.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const timmd::tensors::MemorySource source(
    std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz.safetensors");
  const auto checkpoint = timmd::tensors::read_safetensors(source, timmd::tensors::fuzz::limits());
  if (checkpoint) {
    // Every accepted tensor must lie inside the input.
    for (const auto& tensor : checkpoint->tensors) {
      if (!timmd::tensors::range_fits(tensor.offset, tensor.length, size)) {
        __builtin_trap();
      }
    }
  }
  return 0;
}

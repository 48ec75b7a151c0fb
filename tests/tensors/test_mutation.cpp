// Truncated and bit-flipped copies of small real files: every copy is either read with its
// tensors inside the file or rejected with an error, never a crash (run under ASan/UBSan).
#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/tensor_data.hpp"
#include "tests/tensors/test_support.hpp"

#include <doctest/doctest.h>

using namespace timmd::tensors;
using timmd::tensors::test::read_file;
using timmd::tensors::test::source_dir;

namespace {

constexpr const char* k_files[] = {
  "format-edge/candle/test.pt",
  "format-edge/candle/test.npz",
  "format-edge/burn-store/simple_legacy.pt",
  "format-edge/safetensors-samples/overall.safetensors",
};

void read_everything(std::span<const std::byte> bytes) {
  const MemorySource source(bytes, "mutated");
  const auto checkpoint = read_checkpoint(source);
  if (!checkpoint) {
    CHECK_FALSE(checkpoint.error().message.empty());
    return;
  }
  for (const auto& tensor : checkpoint->tensors) {
    if (!tensor.deflated) {
      CHECK(range_fits(tensor.offset, tensor.length, bytes.size()));
    }
    const auto size = contiguous_byte_size(tensor.dtype, tensor.shape);
    if (size && *size < (1U << 20U)) {
      (void)read_tensor(source, tensor);
    }
  }
}

} // namespace

TEST_CASE("truncated real files are rejected") {
  for (const auto* name : k_files) {
    CAPTURE(name);
    const auto file = read_file(source_dir() / "tests/data/real" / name);
    for (std::size_t length = 0; length < file.size(); ++length) {
      const MemorySource source(std::span<const std::byte>(file).first(length), "truncated");
      CHECK_FALSE(read_checkpoint(source).has_value());
    }
  }
}

TEST_CASE("bit-flipped real files never crash") {
  for (const auto* name : k_files) {
    CAPTURE(name);
    auto file = read_file(source_dir() / "tests/data/real" / name);
    for (std::size_t i = 0; i < file.size(); ++i) {
      for (const auto mask : {std::byte{0x01}, std::byte{0x80}, std::byte{0xFF}}) {
        file[i] ^= mask;
        read_everything(file);
        file[i] ^= mask;
      }
    }
  }
}

// Writing safetensors files that the reference reader accepts.
#pragma once

#include "daemon/tensors/dtype.hpp"
#include "proto/error.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace timmd::tensors {

// One tensor to write. `fill` receives a buffer of exactly the tensor's byte size and writes
// its elements there, row-major and little-endian; it is called once, in file order, so large
// checkpoints are written one tensor at a time.
struct SafetensorsInput {
  std::string name;
  Dtype dtype = Dtype::u8;
  std::vector<std::uint64_t> shape;
  std::function<proto::Result<void>(std::span<std::byte>)> fill;
};

// Input whose bytes are already in memory; the span must outlive the write call.
SafetensorsInput make_safetensors_input(std::string name, Dtype dtype,
                                        std::vector<std::uint64_t> shape,
                                        std::span<const std::byte> data);

// Serialises the JSON header for `tensors` in the order given, padded with spaces so that the
// data buffer starts at a multiple of 8. Fails on duplicate or reserved names and on sizes
// that overflow.
proto::Result<std::string> make_safetensors_header(const std::vector<SafetensorsInput>& tensors,
                                                   const std::map<std::string, std::string>& metadata);

// Writes `tensors` to `path`, ordered by descending dtype alignment and then by name, as the
// reference writer does, so every tensor starts at an offset aligned to its element size. The
// file appears at `path` only complete: it is written beside it, fsynced and renamed.
proto::Result<void> write_safetensors(const std::filesystem::path& path,
                                      std::vector<SafetensorsInput> tensors,
                                      const std::map<std::string, std::string>& metadata = {});

} // namespace timmd::tensors

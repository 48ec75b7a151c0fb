// Writing a remapped state dict as a safetensors file, and telling when none is needed.
#pragma once

#include "daemon/remap/remapper.hpp"

#include <filesystem>
#include <map>
#include <string>

namespace timmd::remap {

// True when every tensor of `result` is an unchanged byte range of a contiguous, uncompressed
// source tensor: the source file itself can be served with a rewritten tensor table.
bool servable_in_place(const RemapResult& result, const tensors::Checkpoint& checkpoint);

// Offset of a tensor's first byte in the source file. REQUIRES: servable_in_place.
std::uint64_t source_offset(const TensorValue& value, const tensors::Checkpoint& checkpoint);

// Writes `result` to `path` as safetensors (complete or not at all: written beside, fsynced,
// renamed). Source tensors are read one at a time, so memory stays at the largest tensor.
proto::Result<void> write_remapped(const std::filesystem::path& path, const RemapResult& result,
                                   const tensors::Checkpoint& checkpoint, const tensors::ByteSource& source,
                                   const std::map<std::string, std::string>& metadata);

} // namespace timmd::remap

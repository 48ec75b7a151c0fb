// Converting a checkpoint of any readable format to safetensors.
#pragma once

#include "daemon/tensors/checkpoint.hpp"

#include <filesystem>

namespace timmd::tensors {

// Writes every tensor of the checkpoint at `in` to a new safetensors file at `out`, under the
// names open_checkpoint reports (prefixes kept), materialising views contiguously and copying
// shared storages once per tensor. The metadata records {"format": "pt"} as Hugging Face's
// converter does, plus "source_format". `out` appears only complete.
proto::Result<void> convert_to_safetensors(const std::filesystem::path& in,
                                           const std::filesystem::path& out,
                                           const ReadLimits& limits = {});

} // namespace timmd::tensors

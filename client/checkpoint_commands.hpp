// timmctl commands that read local checkpoint files without the daemon: inspect and convert.
#pragma once

#include <filesystem>

namespace timmd::client {

// Prints the format and tensor table (name, dtype, shape, byte range) of a checkpoint file.
// Returns the process exit status: 0, or 1 with the reader's error on stderr.
int inspect_checkpoint(const std::filesystem::path& file, bool json_output);

// Writes a checkpoint (PyTorch zip or legacy, npz, npy, safetensors) as safetensors.
int convert_checkpoint(const std::filesystem::path& input, const std::filesystem::path& output, bool json_output);

} // namespace timmd::client

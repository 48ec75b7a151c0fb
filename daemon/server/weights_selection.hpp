// File selection for a pull: the weights file and the configuration of a repository.
#pragma once

#include <string>
#include <vector>

namespace timmd::server {

// Picks the weights file and the configuration from a repository's file list: `config.json`
// when present, plus the first of model.safetensors, pytorch_model.bin,
// open_clip_pytorch_model.bin, or else the repository's only top-level `.npz` file. Returns
// the chosen paths in that order; no weights file means only config.json (or nothing).
std::vector<std::string> select_weights_files(const std::vector<std::string>& paths);

// True when `path` is one of the weights files select_weights_files() looks for.
bool is_weights_file(const std::string& path);

} // namespace timmd::server

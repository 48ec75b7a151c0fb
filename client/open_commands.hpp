// timmctl open and export: the filter options, and printing or writing what the daemon serves.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace timmd::client {

struct FilterOptions {
  std::optional<std::int64_t> num_classes;
  std::optional<std::int64_t> in_chans; // signed, so that -3 reaches the daemon as -3
  std::string img_size;    // "H" or "H,W"
  std::string window_size; // "W" or "H,W"
  std::string dtype;
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  std::string manifest_file;
};

struct OpenCommand {
  std::string name;
  std::string revision;
  std::string output; // export only
  FilterOptions filter;
};

// Adds --num-classes, --in-chans, --img-size, --window-size, --dtype, --include, --exclude,
// --manifest and --revision to `command`.
void add_filter_options(CLI::App& command, OpenCommand& options);

// Prints the served tensor table (or the whole result as JSON); returns the exit status.
int run_open(const OpenCommand& command, const std::string& socket, bool json_output);

// Writes the served tensors to command.output as safetensors; returns the exit status.
int run_export(const OpenCommand& command, const std::string& socket, bool json_output);

} // namespace timmd::client

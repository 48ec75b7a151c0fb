// The files a pull fetches from a repository's file list, given what the request and the
// registry ask for.
#pragma once

#include <string>
#include <vector>

namespace timmd::server {

struct PullSelection {
  std::vector<std::string> paths; // the files to fetch, in fetch order
  // The weights file a pull without `all` fetches: the registry's file when the repository has
  // it, else the choice of select_weights_files(). Empty when the repository has none.
  std::string weights_file;
  // True when the registry named a file the repository does not have; the usual order applies.
  bool preferred_file_missing = false;
};

// Selects every path when `all_files` is set; otherwise config.json (when present) and the
// weights file. `preferred_file` is the registry's weights file, or empty.
PullSelection select_pull_files(const std::vector<std::string>& paths, bool all_files,
                                const std::string& preferred_file);

} // namespace timmd::server

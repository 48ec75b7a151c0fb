#include "daemon/server/pull_selection.hpp"

#include "daemon/server/weights_selection.hpp"

#include <algorithm>

namespace timmd::server {
namespace {

bool contains(const std::vector<std::string>& paths, const std::string& path) {
  return std::ranges::find(paths, path) != paths.end();
}

} // namespace

PullSelection select_pull_files(const std::vector<std::string>& paths, bool all_files,
                                const std::string& preferred_file) {
  PullSelection selection;
  auto usual = select_weights_files(paths);
  const auto weights = std::ranges::find_if(usual, is_weights_file);
  if (weights != usual.end()) {
    selection.weights_file = *weights;
  }

  if (!preferred_file.empty()) {
    if (contains(paths, preferred_file)) {
      selection.weights_file = preferred_file;
      usual.clear();
      if (contains(paths, "config.json")) {
        usual.emplace_back("config.json");
      }
      usual.push_back(preferred_file);
    } else {
      selection.preferred_file_missing = true;
    }
  }

  selection.paths = all_files ? paths : std::move(usual);
  return selection;
}

} // namespace timmd::server

#include "daemon/server/weights_selection.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace timmd::server {
namespace {

constexpr std::array<std::string_view, 3> k_preferred = {
    "model.safetensors",
    "pytorch_model.bin",
    "open_clip_pytorch_model.bin",
};

bool contains(const std::vector<std::string>& paths, std::string_view path) {
  return std::ranges::find(paths, path) != paths.end();
}

bool is_top_level_npz(const std::string& path) {
  return path.ends_with(".npz") && path.find('/') == std::string::npos;
}

} // namespace

std::vector<std::string> select_weights_files(const std::vector<std::string>& paths) {
  std::vector<std::string> chosen;
  if (contains(paths, "config.json")) {
    chosen.emplace_back("config.json");
  }

  for (const auto preferred : k_preferred) {
    if (contains(paths, preferred)) {
      chosen.emplace_back(preferred);
      return chosen;
    }
  }

  const auto npz_count = std::ranges::count_if(paths, is_top_level_npz);
  if (npz_count == 1) {
    chosen.push_back(*std::ranges::find_if(paths, is_top_level_npz));
  }
  return chosen;
}

bool is_weights_file(const std::string& path) {
  return std::ranges::find(k_preferred, path) != k_preferred.end() || is_top_level_npz(path);
}

} // namespace timmd::server

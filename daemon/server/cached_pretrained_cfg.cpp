#include "daemon/server/cached_pretrained_cfg.hpp"

#include "daemon/store/digest.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <string>

namespace timmd::server {
namespace {

// The sha256 of the cached blob holding `file`, or nullopt when none is cached.
std::optional<std::string> cached_blob_of(store::Index& index, const store::FileRecord& file) {
  if (!file.blob_sha256.empty()) {
    return file.blob_sha256;
  }

  // A file listed again at a new commit has no blob yet, but unchanged content has the same etag.
  auto found = file.is_lfs ? index.find_blob(file.etag) : index.find_blob_by_git_oid(file.etag);
  if (!found || !*found) {
    return std::nullopt;
  }
  return (*found)->sha256;
}

// Reads at most k_max_config_json_size bytes of `blob`; nullopt after a warning when that fails.
std::optional<std::string> read_bounded(const store::CacheLayout& layout, const std::string& blob,
                                        std::string_view repo, std::string_view commit) {
  const auto path = layout.blob_path(blob);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    spdlog::warn("config.json of {} at {} (blob {}) cannot be opened at {}; using the registry's pretrained_cfg", repo,
                 commit, blob, path.string());
    return std::nullopt;
  }

  // Reading one byte past the limit distinguishes an oversized file from one of exactly the limit.
  std::string text(k_max_config_json_size + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > k_max_config_json_size) {
    spdlog::warn("config.json of {} at {} (blob {}) is larger than {} bytes; using the registry's pretrained_cfg", repo,
                 commit, blob, k_max_config_json_size);
    return std::nullopt;
  }
  return text;
}

} // namespace

std::optional<nlohmann::json> read_cached_pretrained_cfg(store::Index& index, const store::CacheLayout& layout,
                                                         std::string_view repo, std::string_view commit) {
  auto files = index.files_at(repo, commit);
  if (!files || !*files) {
    return std::nullopt;
  }
  const auto file = std::ranges::find(**files, std::string("config.json"), &store::FileRecord::path);
  if (file == (*files)->end()) {
    return std::nullopt;
  }
  const auto blob = cached_blob_of(index, *file);
  if (!blob || !store::is_sha256_hex(*blob)) {
    return std::nullopt;
  }
  return read_pretrained_cfg_blob(layout, *blob, repo, commit);
}

std::optional<nlohmann::json> read_pretrained_cfg_blob(const store::CacheLayout& layout, const std::string& blob,
                                                       std::string_view repo, std::string_view commit) {
  const auto text = read_bounded(layout, blob, repo, commit);
  if (!text) {
    return std::nullopt;
  }
  auto config = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    spdlog::warn("config.json of {} at {} (blob {}) is not a JSON object; using the registry's pretrained_cfg", repo,
                 commit, blob);
    return std::nullopt;
  }
  if (!config.contains("pretrained_cfg") || !config["pretrained_cfg"].is_object()) {
    spdlog::warn("config.json of {} at {} (blob {}) has no 'pretrained_cfg' object; using the registry's "
                 "pretrained_cfg",
                 repo, commit, blob);
    return std::nullopt;
  }
  return std::move(config["pretrained_cfg"]);
}

} // namespace timmd::server

#include "tests/hubserver/commit.hpp"

#include "tests/hubserver/file_hashes.hpp"
#include "tests/hubserver/url.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <set>
#include <stdexcept>

namespace timmd::testhub {

namespace {

constexpr std::uint64_t k_lfs_size_threshold = 10U * 1024U * 1024U;

// The patterns of the .gitattributes file the Hub writes into every new model repository.
constexpr std::array k_lfs_patterns = {
    "*.7z",     "*.arrow",   "*.bin",     "*.bz2",  "*.ckpt",  "*.ftz",     "*.gz",       "*.h5",
    "*.joblib", "*.lfs.*",   "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz",      "*.onnx",
    "*.ot",     "*.parquet", "*.pb",      "*.pickle", "*.pkl",  "*.pt",      "*.pth",      "*.rar",
    "*.safetensors", "*.tar.*", "*.tar",  "*.tflite", "*.tgz", "*.wasm",   "*.xz",       "*.zip",
    "*.zst",    "*tfevents*", "*.th"};

std::string parent_directory(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(path.substr(0, slash));
}

std::string base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string hex_to_binary(std::string_view hex) {
  std::string binary;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    binary.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return binary;
}

// Computes git tree object ids bottom-up, so directory `oid`s look like the Hub's.
std::map<std::string, std::string> compute_tree_ids(const std::vector<RepoFile>& files) {
  struct Entry {
    std::string name;
    bool directory;
    std::string id;
  };
  std::map<std::string, std::vector<Entry>> children;
  std::set<std::string> directories{""};
  for (const auto& file : files) {
    auto directory = parent_directory(file.path);
    children[directory].push_back({base_name(file.path), false, file.blob_id});
    while (!directory.empty() && directories.insert(directory).second) {
      directory = parent_directory(directory);
    }
  }

  std::map<std::string, std::string> ids;
  // Longer paths first, so every subdirectory is hashed before its parent.
  std::vector<std::string> order(directories.begin(), directories.end());
  std::ranges::sort(order, [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& directory : order) {
    auto& entries = children[directory];
    // Git orders tree entries by name, comparing a directory name as if it ended in '/'.
    std::ranges::sort(entries, [](const Entry& a, const Entry& b) {
      return (a.directory ? a.name + "/" : a.name) < (b.directory ? b.name + "/" : b.name);
    });
    std::string content;
    for (const auto& entry : entries) {
      content += entry.directory ? "40000 " : "100644 ";
      content += entry.name;
      content.push_back('\0');
      content += hex_to_binary(entry.id);
    }
    const auto header = "tree " + std::to_string(content.size());
    const auto id = sha1_hex(header + std::string(1, '\0') + content);
    ids[directory] = id;
    if (!directory.empty()) {
      children[parent_directory(directory)].push_back({base_name(directory), true, id});
    }
  }
  return ids;
}

RepoFile describe_file(std::string path, const std::filesystem::path& source) {
  RepoFile file;
  file.path = std::move(path);
  file.source = source;
  file.size = std::filesystem::file_size(source);
  file.lfs = is_lfs_path(file.path, file.size);
  if (file.lfs) {
    file.sha256 = file_sha256(source);
    const auto pointer = lfs_pointer(file.sha256, file.size);
    file.blob_id = git_blob_sha1(pointer);
    file.pointer_size = pointer.size();
  } else {
    file.blob_id = file_git_blob_sha1(source);
  }
  return file;
}

} // namespace

const RepoFile* Commit::find_file(std::string_view path) const {
  const auto found = std::ranges::lower_bound(files, path, {}, &RepoFile::path);
  return found != files.end() && found->path == path ? &*found : nullptr;
}

bool is_lfs_path(std::string_view path, std::uint64_t size) {
  if (size >= k_lfs_size_threshold || path.starts_with("saved_model/")) {
    return true;
  }
  const auto name = base_name(path);
  return std::ranges::any_of(k_lfs_patterns, [&](const char* pattern) { return glob_match(pattern, name); });
}

std::string lfs_pointer(std::string_view sha256, std::uint64_t size) {
  return "version https://git-lfs.github.com/spec/v1\noid sha256:" + std::string(sha256) + "\nsize " +
         std::to_string(size) + "\n";
}

Commit build_commit(std::string_view repo_id, const std::filesystem::path& tree_dir, std::string parent,
                    std::string date) {
  if (!std::filesystem::is_directory(tree_dir)) {
    throw std::runtime_error("tree directory not found: " + tree_dir.string());
  }

  Commit commit;
  commit.parent = std::move(parent);
  commit.date = std::move(date);
  const auto options = std::filesystem::directory_options::follow_directory_symlink;
  for (auto it = std::filesystem::recursive_directory_iterator(tree_dir, options);
       it != std::filesystem::recursive_directory_iterator(); ++it) {
    const auto relative = it->path().lexically_relative(tree_dir).generic_string();
    if (it.depth() == 0 && it->is_directory() && it->path().filename() == ".hub") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) {
      commit.files.push_back(describe_file(relative, it->path()));
    }
  }
  std::ranges::sort(commit.files, {}, &RepoFile::path);
  commit.directories = compute_tree_ids(commit.files);

  std::string identity = "repo " + std::string(repo_id) + "\nparent " + commit.parent + "\n";
  for (const auto& file : commit.files) {
    identity += file.path;
    identity.push_back('\0');
    identity += file.blob_id + "\n";
  }
  commit.id = sha1_hex(identity);
  return commit;
}

std::string format_iso8601(std::chrono::system_clock::time_point time) {
  const auto seconds = std::chrono::system_clock::to_time_t(time);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 32> text{};
  const auto length = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%S", &utc);
  std::array<char, 8> fraction{};
  std::snprintf(fraction.data(), fraction.size(), ".%03dZ", static_cast<int>(millis));
  return std::string(text.data(), length) + fraction.data();
}

} // namespace timmd::testhub

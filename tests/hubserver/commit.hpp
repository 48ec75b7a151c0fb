// One commit of a test repository: the file tree of a directory on disk with the hashes the
// Hub reports for it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace timmd::testhub {

// One file of a commit. The bytes stay on disk at `source` and are read on every request.
struct RepoFile {
  std::string path;              // repository path, `/`-separated
  std::filesystem::path source;  // the file on disk
  std::uint64_t size = 0;
  bool lfs = false;
  std::string blob_id;           // git blob SHA-1 of the content, or of the LFS pointer file
  std::string sha256;            // SHA-256 of the content; LFS files only
  std::uint64_t pointer_size = 0; // size of the LFS pointer file; LFS files only

  // Returns the download etag: the SHA-256 for LFS files, the git blob id for the others.
  const std::string& etag() const { return lfs ? sha256 : blob_id; }
};

struct Commit {
  std::string id;                 // 40 lowercase hex digits
  std::string parent;             // empty for a root commit
  std::string date;               // ISO 8601 UTC with milliseconds, as the Hub formats lastModified
  std::vector<RepoFile> files;    // sorted by path
  std::map<std::string, std::string> directories; // path -> git tree id; "" is the root

  // Returns the file at `path`, or nullptr.
  const RepoFile* find_file(std::string_view path) const;
};

// Returns true when the Hub's default .gitattributes stores `path` of `size` bytes in LFS:
// its name matches one of the default patterns, or it is 10 MiB or larger.
bool is_lfs_path(std::string_view path, std::uint64_t size);

// Returns the git-lfs spec v1 pointer file text for content with this SHA-256 and size.
std::string lfs_pointer(std::string_view sha256, std::uint64_t size);

// Builds a commit from every regular file under `tree_dir`, following symbolic links and
// skipping a top-level `.hub` directory. The id hashes `repo_id`, `parent` and the sorted
// (path, blob id) list, so the same tree and parent give the same id in every run.
// Throws std::runtime_error or std::system_error when the tree cannot be read.
Commit build_commit(std::string_view repo_id, const std::filesystem::path& tree_dir, std::string parent,
                    std::string date);

// Returns `time` in the Hub's lastModified format, e.g. "2024-05-01T12:00:00.000Z".
std::string format_iso8601(std::chrono::system_clock::time_point time);

} // namespace timmd::testhub

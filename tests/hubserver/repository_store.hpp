// The repositories under a root directory, loaded on first use and shared by all connections.
#pragma once

#include "tests/hubserver/repository.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace timmd::testhub {

// Thread-safe. Readers get immutable Repository states. set_ref publishes a new state, so a
// request that already has the old one finishes on it.
class RepositoryStore {
 public:
  // Repositories live at `root`/ORG/NAME. The files of branch main are that directory.
  explicit RepositoryStore(std::filesystem::path root);

  // Loads every ORG/NAME directory under the root now, so the first requests do not wait for
  // hashing. Throws on an unreadable tree or an invalid config.json.
  void load_all();

  // Returns the repository `repo_id` ("org/name"), loading it from disk on first use, or nullptr
  // when the id is invalid or no such directory exists. Throws like load_all on a broken
  // repository.
  std::shared_ptr<const Repository> find(std::string_view repo_id);

  // Points `ref` of `repo_id` at a new commit built from `tree_dir`, whose parent is the ref's
  // previous commit. Returns the new commit id. The files are served from `tree_dir`, which
  // must outlive the server. Throws std::invalid_argument for an unknown repository.
  std::string set_ref(std::string_view repo_id, std::string_view ref, const std::filesystem::path& tree_dir);

  // Returns a file with this download etag from any loaded commit (for the CDN listener).
  std::optional<RepoFile> find_blob(std::string_view etag) const;

 private:
  std::shared_ptr<const Repository> find_locked(std::string_view repo_id);
  std::shared_ptr<const Repository> load(const std::string& repo_id);
  void index_blobs(const Commit& commit);

  std::filesystem::path m_root;
  mutable std::mutex m_mutex;
  std::map<std::string, std::shared_ptr<const Repository>, std::less<>> m_repositories;
  std::map<std::string, RepoFile, std::less<>> m_blobs; // by etag
};

// Returns true when `repo_id` is "org/name" with each part from [A-Za-z0-9_.-], not starting
// with '.', as huggingface_hub validates ids (without the length limit).
bool is_valid_repo_id(std::string_view repo_id);

} // namespace timmd::testhub

#include "tests/hubserver/repository_store.hpp"

#include "tests/hubserver/url.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace timmd::testhub {

namespace {

bool is_valid_name(std::string_view name) {
  const auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  };
  return !name.empty() && name.front() != '.' && std::ranges::all_of(name, allowed) &&
         name.find("--") == std::string_view::npos && name.find("..") == std::string_view::npos;
}

std::string newest_mtime(const Commit& commit) {
  auto newest = std::filesystem::file_time_type::min();
  for (const auto& file : commit.files) {
    newest = std::max(newest, std::filesystem::last_write_time(file.source));
  }
  if (commit.files.empty()) {
    return format_iso8601(std::chrono::system_clock::now());
  }
  return format_iso8601(std::chrono::time_point_cast<std::chrono::system_clock::duration>(std::chrono::file_clock::to_sys(newest)));
}

Commit build_dated_commit(std::string_view repo_id, const std::filesystem::path& tree_dir, std::string parent) {
  auto commit = build_commit(repo_id, tree_dir, std::move(parent), "");
  commit.date = newest_mtime(commit);
  return commit;
}

} // namespace

bool is_valid_repo_id(std::string_view repo_id) {
  const auto parts = split(repo_id, '/');
  return parts.size() == 2 && is_valid_name(parts[0]) && is_valid_name(parts[1]);
}

RepositoryStore::RepositoryStore(std::filesystem::path root) : m_root(std::move(root)) {}

void RepositoryStore::load_all() {
  if (!std::filesystem::is_directory(m_root)) {
    throw std::runtime_error("repository root not found: " + m_root.string());
  }
  const std::lock_guard lock(m_mutex);
  for (const auto& organisation : std::filesystem::directory_iterator(m_root)) {
    if (!organisation.is_directory()) {
      continue;
    }
    for (const auto& repository : std::filesystem::directory_iterator(organisation.path())) {
      const auto id = organisation.path().filename().string() + "/" + repository.path().filename().string();
      if (repository.is_directory() && is_valid_repo_id(id)) {
        find_locked(id);
      }
    }
  }
}

std::shared_ptr<const Repository> RepositoryStore::find(std::string_view repo_id) {
  const std::lock_guard lock(m_mutex);
  return find_locked(repo_id);
}

std::shared_ptr<const Repository> RepositoryStore::find_locked(std::string_view repo_id) {
  if (const auto found = m_repositories.find(repo_id); found != m_repositories.end()) {
    return found->second;
  }
  if (!is_valid_repo_id(repo_id) || !std::filesystem::is_directory(m_root / repo_id)) {
    return nullptr;
  }
  auto repository = load(std::string(repo_id));
  m_repositories.emplace(std::string(repo_id), repository);
  return repository;
}

std::shared_ptr<const Repository> RepositoryStore::load(const std::string& repo_id) {
  const auto started = std::chrono::steady_clock::now();
  const auto directory = m_root / repo_id;
  auto repository = std::make_shared<Repository>();
  repository->id = repo_id;
  repository->config = RepoConfig::load(directory / ".hub" / "config.json");

  std::vector<std::pair<std::string, std::filesystem::path>> trees{{"main", directory}};
  trees.insert(trees.end(), repository->config.refs.begin(), repository->config.refs.end());
  for (const auto& [ref_name, tree_dir] : trees) {
    auto commit = std::make_shared<const Commit>(build_dated_commit(repo_id, tree_dir, ""));
    index_blobs(*commit);
    auto [name, kind] = classify_ref(ref_name);
    repository->refs[name] = Ref{name, kind, commit->id};
    repository->commits.emplace(commit->id, std::move(commit));
  }

  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  spdlog::info("loaded repository {}: {} refs, main at {}, in {} ms", repo_id, repository->refs.size(),
               repository->refs.at("main").commit, elapsed.count());
  return repository;
}

std::string RepositoryStore::set_ref(std::string_view repo_id, std::string_view ref,
                                     const std::filesystem::path& tree_dir) {
  const std::lock_guard lock(m_mutex);
  const auto current = find_locked(repo_id);
  if (!current) {
    throw std::invalid_argument("repository not found: " + std::string(repo_id));
  }

  auto [name, kind] = classify_ref(ref);
  std::string parent;
  if (const auto existing = current->refs.find(name); existing != current->refs.end()) {
    parent = existing->second.commit;
    kind = existing->second.kind;
  }
  auto commit = build_commit(repo_id, tree_dir, parent, format_iso8601(std::chrono::system_clock::now()));
  auto shared_commit = std::make_shared<const Commit>(std::move(commit));
  index_blobs(*shared_commit);

  auto next = std::make_shared<Repository>(*current);
  next->refs[name] = Ref{name, kind, shared_commit->id};
  next->commits[shared_commit->id] = shared_commit;
  m_repositories[std::string(repo_id)] = next;
  spdlog::info("moved {} of {} to commit {}", name, repo_id, shared_commit->id);
  return shared_commit->id;
}

std::optional<RepoFile> RepositoryStore::find_blob(std::string_view etag) const {
  const std::lock_guard lock(m_mutex);
  const auto found = m_blobs.find(etag);
  if (found == m_blobs.end()) {
    return std::nullopt;
  }
  return found->second;
}

void RepositoryStore::index_blobs(const Commit& commit) {
  for (const auto& file : commit.files) {
    m_blobs.insert_or_assign(file.etag(), file);
  }
}

} // namespace timmd::testhub

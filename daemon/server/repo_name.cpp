#include "daemon/server/repo_name.hpp"

#include <algorithm>

namespace timmd::server {
namespace {

bool is_valid_part(std::string_view part) {
  if (part.empty() || part.size() > 96) {
    return false;
  }
  const bool allowed = std::ranges::all_of(part, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
  return allowed && part.find("--") == std::string_view::npos && part.find("..") == std::string_view::npos &&
         !part.starts_with('-') && !part.starts_with('.') && !part.ends_with('-') && !part.ends_with('.');
}

} // namespace

bool is_valid_repo_id(std::string_view repo) {
  if (repo.ends_with(".git")) {
    return false;
  }
  const auto slash = repo.find('/');
  if (slash == std::string_view::npos) {
    return is_valid_part(repo);
  }
  return is_valid_part(repo.substr(0, slash)) && is_valid_part(repo.substr(slash + 1));
}

bool is_valid_revision(std::string_view revision) {
  if (revision.empty() || revision.size() > 256) {
    return false;
  }
  return std::ranges::all_of(revision, [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte > 0x20 && byte < 0x7f;
  });
}

proto::Result<std::optional<RepoName>> parse_repo_name(std::string_view text) {
  const bool explicit_hub = text.starts_with("hf-hub:");
  if (explicit_hub) {
    text.remove_prefix(7);
  }

  RepoName name;
  const auto at = text.find('@');
  const auto repo_part = text.substr(0, at);
  if (at != std::string_view::npos) {
    name.revision = std::string(text.substr(at + 1));
    if (!is_valid_revision(name.revision)) {
      return proto::make_error(proto::Errc::invalid_request,
                               "invalid revision '" + name.revision + "' in '" + std::string(text) +
                                   "'; use a branch, tag, refs/pr/N or a 40-hex commit",
                               {{"name", std::string(text)}});
    }
  }

  if (repo_part.find('/') == std::string_view::npos && !explicit_hub) {
    return std::optional<RepoName>();
  }
  if (!is_valid_repo_id(repo_part)) {
    return proto::make_error(proto::Errc::invalid_request,
                             "invalid repository id '" + std::string(repo_part) +
                                 "'; a Hub repository id is ORG/NAME with letters, digits, '-', '_' and '.'",
                             {{"name", std::string(text)}});
  }
  name.repo = std::string(repo_part);
  return std::optional<RepoName>(std::move(name));
}

} // namespace timmd::server

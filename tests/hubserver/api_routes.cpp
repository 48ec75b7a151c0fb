// JSON routes under /api/models/{repo}: repository info, tree listing, refs and paths-info.
#include "tests/hubserver/router.hpp"

#include "tests/hubserver/file_hashes.hpp"
#include "tests/hubserver/url.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <set>

namespace timmd::testhub {

namespace {

// huggingface_hub documents 50 entries per page when the listing is expanded.
constexpr std::size_t k_expanded_page_size = 50;

HttpResponse revision_not_found(std::string_view revision) {
  return error_response(404, "RevisionNotFound", "Invalid rev id: " + std::string(revision));
}

nlohmann::json file_entry(const Commit& commit, const RepoFile& file, bool expand) {
  nlohmann::json entry = {{"type", "file"}, {"oid", file.blob_id}, {"size", file.size}, {"path", file.path}};
  if (file.lfs) {
    entry["lfs"] = {{"oid", file.sha256}, {"size", file.size}, {"pointerSize", file.pointer_size}};
  }
  if (expand) {
    entry["lastCommit"] = {{"id", commit.id}, {"title", "Update " + file.path}, {"date", commit.date}};
  }
  return entry;
}

nlohmann::json directory_entry(const Commit& commit, const std::string& path, const std::string& oid, bool expand) {
  nlohmann::json entry = {{"type", "directory"}, {"oid", oid}, {"size", 0}, {"path", path}};
  if (expand) {
    entry["lastCommit"] = {{"id", commit.id}, {"title", "Update " + path}, {"date", commit.date}};
  }
  return entry;
}

bool is_inside(std::string_view path, std::string_view directory) {
  return directory.empty() || (path.size() > directory.size() && path.starts_with(directory) &&
                               path[directory.size()] == '/');
}

bool is_direct_child(std::string_view path, std::string_view directory) {
  if (!is_inside(path, directory)) {
    return false;
  }
  const auto rest = directory.empty() ? path : path.substr(directory.size() + 1);
  return rest.find('/') == std::string_view::npos;
}

// Returns the tree entries under `directory`, sorted by path.
std::vector<nlohmann::json> list_directory(const Commit& commit, std::string_view directory, bool recursive,
                                           bool expand) {
  std::vector<std::pair<std::string, nlohmann::json>> entries;
  for (const auto& [path, oid] : commit.directories) {
    if (!path.empty() && (recursive ? is_inside(path, directory) : is_direct_child(path, directory))) {
      entries.emplace_back(path, directory_entry(commit, path, oid, expand));
    }
  }
  for (const auto& file : commit.files) {
    if (recursive ? is_inside(file.path, directory) : is_direct_child(file.path, directory)) {
      entries.emplace_back(file.path, file_entry(commit, file, expand));
    }
  }
  std::ranges::sort(entries, {}, &std::pair<std::string, nlohmann::json>::first);

  std::vector<nlohmann::json> listing;
  listing.reserve(entries.size());
  for (auto& [path, entry] : entries) {
    listing.push_back(std::move(entry));
  }
  return listing;
}

std::string without_cursor(std::string_view query) {
  std::string remaining;
  for (const auto piece : split(query, '&')) {
    if (piece.empty() || piece.starts_with("cursor=")) {
      continue;
    }
    remaining += std::string(remaining.empty() ? "" : "&") + std::string(piece);
  }
  return remaining;
}

// Reads the paths-info body: form-encoded "paths=a&paths=b&expand=false" (huggingface_hub)
// or JSON {"paths": [...], "expand": true} (huggingface.js).
std::pair<std::vector<std::string>, bool> parse_paths_info_body(const HttpRequest& request) {
  std::vector<std::string> paths;
  bool expand = false;
  const auto& body = request.body;
  if (request.header("Content-Type").find("json") != std::string::npos || body.starts_with("{")) {
    const auto json = nlohmann::json::parse(body);
    for (const auto& path : json.value("paths", nlohmann::json::array())) {
      paths.push_back(path.get<std::string>());
    }
    const auto expand_value = json.value("expand", nlohmann::json(false));
    expand = expand_value.is_boolean() ? expand_value.get<bool>() : false;
    return {paths, expand};
  }
  const QueryParameters form(body);
  for (const auto& [name, value] : form.items()) {
    if (name == "paths") {
      paths.push_back(value);
    }
  }
  return {paths, form.flag("expand")};
}

} // namespace

HttpResponse Router::model_info(const HttpRequest& request, const Repository& repository,
                                std::string_view revision) const {
  const auto commit = repository.resolve(revision);
  if (!commit) {
    return revision_not_found(revision);
  }
  const bool blobs = QueryParameters(request.query).flag("blobs");

  nlohmann::json siblings = nlohmann::json::array();
  std::uint64_t used_storage = 0;
  for (const auto& file : commit->files) {
    nlohmann::json sibling = {{"rfilename", file.path}};
    if (blobs) {
      sibling["size"] = file.size;
      sibling["blobId"] = file.blob_id;
      if (file.lfs) {
        sibling["lfs"] = {{"sha256", file.sha256}, {"size", file.size}, {"pointerSize", file.pointer_size}};
      }
    }
    used_storage += file.size;
    siblings.push_back(std::move(sibling));
  }

  const auto slash = repository.id.find('/');
  nlohmann::json info = {
      {"_id", sha1_hex(repository.id).substr(0, 24)},
      {"id", repository.id},
      {"modelId", repository.id},
      {"author", repository.id.substr(0, slash)},
      {"sha", commit->id},
      {"lastModified", commit->date},
      {"createdAt", commit->date},
      {"private", repository.config.is_private},
      {"gated", repository.config.gated ? nlohmann::json("auto") : nlohmann::json(false)},
      {"disabled", repository.config.disabled},
      {"downloads", 0},
      {"likes", 0},
      {"tags", nlohmann::json::array()},
      {"siblings", std::move(siblings)},
  };
  if (blobs) {
    info["usedStorage"] = used_storage;
  }
  return json_response(info.dump());
}

HttpResponse Router::tree(const HttpRequest& request, const Repository& repository, std::string_view revision,
                          std::string_view path) const {
  const auto commit = repository.resolve(revision);
  if (!commit) {
    return revision_not_found(revision);
  }
  std::string directory(path);
  while (directory.ends_with('/')) {
    directory.pop_back();
  }
  if (!commit->directories.contains(directory)) {
    auto response = error_response(404, "EntryNotFound", "Entry not found: " + directory);
    response.set_header("X-Repo-Commit", commit->id);
    return response;
  }

  const QueryParameters query(request.query);
  const bool expand = query.flag("expand");
  const auto listing = list_directory(*commit, directory, query.flag("recursive"), expand);
  const auto page_size = std::max<std::size_t>(1, expand ? std::min(m_settings.tree_page_size, k_expanded_page_size)
                                                         : m_settings.tree_page_size);

  std::size_t cursor = 0;
  if (const auto cursor_text = query.get("cursor")) {
    const auto* end = cursor_text->data() + cursor_text->size();
    const auto [pointer, error] = std::from_chars(cursor_text->data(), end, cursor);
    if (error != std::errc() || pointer != end || cursor > listing.size()) {
      return error_response(400, "", "invalid cursor \"" + *cursor_text + "\"");
    }
  }

  const auto stop = std::min(listing.size(), cursor + page_size);
  nlohmann::json page = nlohmann::json::array();
  for (auto i = cursor; i < stop; ++i) {
    page.push_back(listing[i]);
  }
  auto response = json_response(page.dump());
  if (stop < listing.size()) {
    const auto query_without_cursor = without_cursor(request.query);
    response.set_header("Link", "<" + m_settings.api_base + request.raw_path + "?" + query_without_cursor +
                                    (query_without_cursor.empty() ? "" : "&") +
                                    "cursor=" + std::to_string(stop) + ">; rel=\"next\"");
  }
  return response;
}

HttpResponse Router::refs(const HttpRequest& request, const Repository& repository) const {
  nlohmann::json branches = nlohmann::json::array();
  nlohmann::json tags = nlohmann::json::array();
  nlohmann::json pull_requests = nlohmann::json::array();
  for (const auto& [name, ref] : repository.refs) {
    switch (ref.kind) {
      case RefKind::branch:
        branches.push_back({{"name", name}, {"ref", "refs/heads/" + name}, {"targetCommit", ref.commit}});
        break;
      case RefKind::tag:
        tags.push_back({{"name", name}, {"ref", "refs/tags/" + name}, {"targetCommit", ref.commit}});
        break;
      case RefKind::pull_request:
        pull_requests.push_back({{"name", name.substr(8)}, {"ref", name}, {"targetCommit", ref.commit}});
        break;
    }
  }

  nlohmann::json body = {{"branches", branches}, {"tags", tags}, {"converts", nlohmann::json::array()}};
  if (QueryParameters(request.query).flag("include_prs")) {
    body["pullRequests"] = pull_requests;
  }
  return json_response(body.dump());
}

HttpResponse Router::paths_info(const HttpRequest& request, const Repository& repository,
                                std::string_view revision) const {
  const auto commit = repository.resolve(revision);
  if (!commit) {
    return revision_not_found(revision);
  }
  std::pair<std::vector<std::string>, bool> parsed;
  try {
    parsed = parse_paths_info_body(request);
  } catch (const nlohmann::json::exception& error) {
    return error_response(400, "", std::string("invalid paths-info body: ") + error.what());
  }
  const auto& [paths, expand] = parsed;

  nlohmann::json entries = nlohmann::json::array();
  const std::set<std::string> unique(paths.begin(), paths.end());
  for (const auto& path : unique) {
    if (const auto* file = commit->find_file(path)) {
      entries.push_back(file_entry(*commit, *file, expand));
    } else if (const auto directory = commit->directories.find(path);
               directory != commit->directories.end() && !path.empty()) {
      entries.push_back(directory_entry(*commit, path, directory->second, expand));
    }
  }
  return json_response(entries.dump());
}

} // namespace timmd::testhub

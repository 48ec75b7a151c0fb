// File downloads: /{repo}/resolve/..., /api/resolve-cache/... and the CDN listener's /blobs/.
#include "tests/hubserver/router.hpp"

#include "tests/hubserver/byte_range.hpp"
#include "tests/hubserver/file_hashes.hpp"
#include "tests/hubserver/url.hpp"

namespace timmd::testhub {

namespace {

std::string quote_etag(std::string_view etag) {
  // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for "\"" + text + "\"".
  std::string quoted;
  quoted.reserve(etag.size() + 2);
  quoted.push_back('"');
  quoted.append(etag);
  quoted.push_back('"');
  return quoted;
}

void add_file_metadata(HttpResponse& response, const Commit& commit, const RepoFile& file) {
  response.set_header("X-Repo-Commit", commit.id);
  response.set_header("X-Linked-Etag", quote_etag(file.etag()));
  response.set_header("X-Linked-Size", std::to_string(file.size));
}

HttpResponse redirect(int status, std::string location) {
  HttpResponse response;
  response.status = status;
  response.set_header("Content-Type", "text/plain; charset=utf-8");
  response.text = (status == 302 ? "Found. Redirecting to " : "Temporary Redirect. Redirecting to ") + location;
  response.set_header("Location", std::move(location));
  return response;
}

HttpResponse entry_not_found(const Commit& commit) {
  auto response = error_response(404, "EntryNotFound", "Entry not found");
  response.set_header("X-Repo-Commit", commit.id);
  return response;
}

HttpResponse revision_not_found(std::string_view revision) {
  return error_response(404, "RevisionNotFound", "Invalid rev id: " + std::string(revision));
}

} // namespace

HttpResponse Router::resolve(const HttpRequest& request, const std::vector<std::string>& segments) const {
  const auto repository = m_store.find(segments[0] + "/" + segments[1]);
  if (repository) {
    if (auto redirect = rename_redirect(request, *repository)) {
      return std::move(*redirect);
    }
  }
  if (auto denied = check_access(request, repository.get(), Access::files)) {
    return std::move(*denied);
  }

  // A raw "refs/pr/N" revision spans three segments, the encoded form one.
  std::size_t path_start = 4;
  std::string revision = segments[3];
  if (revision == "refs" && segments.size() > 6 && segments[4] == "pr") {
    revision = "refs/pr/" + segments[5];
    path_start = 6;
  }
  std::string path;
  for (std::size_t i = path_start; i < segments.size(); ++i) {
    path += (i > path_start ? "/" : "") + segments[i];
  }

  const auto commit = repository->resolve(revision);
  if (!commit) {
    return revision_not_found(revision);
  }
  const auto* file = commit->find_file(path);
  if (file == nullptr) {
    return entry_not_found(*commit);
  }

  switch (repository->head_style(*file)) {
    case HeadStyle::direct: {
      auto response = file_response(request, *file);
      add_file_metadata(response, *commit, *file);
      response.set_header("ETag", quote_etag(file->etag()));
      return response;
    }
    case HeadStyle::relative: {
      // huggingface.co names the etag in the query, but clients drop a relative Location's
      // query, so the target below must not need it.
      return redirect(307, "/api/resolve-cache/models/" + repository->id + "/" + commit->id + "/" +
                               percent_encode(file->path, true) + "?etag=" + percent_encode(quote_etag(file->etag()), false));
    }
    case HeadStyle::cdn: {
      auto response = redirect(302, m_settings.cdn_base + "/blobs/" + file->etag() +
                                        "?X-Sig=" + cdn_signature(file->etag()));
      add_file_metadata(response, *commit, *file);
      return response;
    }
  }
  return error_response(500, "", "unknown head style");
}

HttpResponse Router::resolve_cache(const HttpRequest& request, const std::vector<std::string>& segments) const {
  // /api/resolve-cache/models/{org}/{name}/{commit}/{path}
  if (segments.size() < 7 || segments[2] != "models") {
    return check_access(request, nullptr, Access::files).value();
  }
  const auto repository = m_store.find(segments[3] + "/" + segments[4]);
  if (auto denied = check_access(request, repository.get(), Access::files)) {
    return std::move(*denied);
  }

  const auto found = repository->commits.find(segments[5]);
  if (found == repository->commits.end()) {
    return revision_not_found(segments[5]);
  }
  const auto& commit = *found->second;
  std::string path;
  for (std::size_t i = 6; i < segments.size(); ++i) {
    path += (i > 6 ? "/" : "") + segments[i];
  }
  const auto* file = commit.find_file(path);
  if (file == nullptr) {
    return entry_not_found(commit);
  }

  auto response = file_response(request, *file);
  add_file_metadata(response, commit, *file);
  response.set_header("ETag", quote_etag(file->etag()));
  return response;
}

HttpResponse Router::cdn_blob(const HttpRequest& request, const std::vector<std::string>& segments) const {
  const auto& etag = segments.front();
  const auto signature = QueryParameters(request.query).get("X-Sig");
  if (!signature || *signature != cdn_signature(etag)) {
    HttpResponse response;
    response.status = 403;
    response.set_header("Content-Type", "text/plain; charset=utf-8");
    response.text = "missing or invalid X-Sig signature";
    return response;
  }
  const auto file = m_store.find_blob(etag);
  if (!file) {
    HttpResponse response;
    response.status = 404;
    response.set_header("Content-Type", "text/plain; charset=utf-8");
    response.text = "no such object";
    return response;
  }

  auto response = file_response(request, *file);
  response.set_header("ETag", quote_etag(cdn_etag(etag)));
  return response;
}

HttpResponse Router::file_response(const HttpRequest& request, const RepoFile& file) const {
  HttpResponse response;
  response.set_header("Accept-Ranges", "bytes");
  response.set_header("Content-Type", "application/octet-stream");

  const auto range = parse_byte_range(request.header("Range"), file.size);
  switch (range.kind) {
    case ByteRangeResult::Kind::whole:
      response.file = FileSlice{file.source, 0, file.size};
      break;
    case ByteRangeResult::Kind::partial:
      response.status = 206;
      response.set_header("Content-Range", "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) +
                                               "/" + std::to_string(file.size));
      response.file = FileSlice{file.source, range.first, range.last - range.first + 1};
      break;
    case ByteRangeResult::Kind::unsatisfiable:
      response.status = 416;
      response.set_header("Content-Range", "bytes */" + std::to_string(file.size));
      response.set_header("Content-Type", "text/plain; charset=utf-8");
      response.text = "Requested Range Not Satisfiable";
      break;
  }
  return response;
}

std::string cdn_signature(std::string_view etag) {
  return sha256_hex("timmd-testhub-cdn:" + std::string(etag)).substr(0, 32);
}

std::string cdn_etag(std::string_view etag) {
  return sha1_hex("cdn-object:" + std::string(etag)).substr(0, 32);
}

} // namespace timmd::testhub

#include "tests/hubserver/router.hpp"

#include "tests/hubserver/url.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace timmd::testhub {

namespace {

constexpr std::string_view k_invalid_credentials = "Invalid credentials in Authorization header";
constexpr std::string_view k_disabled = "Access to this resource is disabled.";

// Returns the revision at segments[index] and the index after it. The revision is normally
// one segment with '/' encoded ("refs%2Fpr%2F1"), but a raw "refs/pr/N" spans three.
std::pair<std::string, std::size_t> take_revision(const std::vector<std::string>& segments, std::size_t index) {
  if (index + 2 < segments.size() && segments[index] == "refs" && segments[index + 1] == "pr") {
    return {"refs/pr/" + segments[index + 2], index + 3};
  }
  return {segments[index], index + 1};
}

std::string join(const std::vector<std::string>& segments, std::size_t from) {
  std::string joined;
  for (std::size_t i = from; i < segments.size(); ++i) {
    if (i > from) {
      joined.push_back('/');
    }
    joined += segments[i];
  }
  return joined;
}

bool is_other_repo_type(std::string_view segment) {
  return segment == "datasets" || segment == "spaces" || segment == "kernels";
}

} // namespace

Router::Router(RepositoryStore& store, RouterSettings settings) : m_store(store), m_settings(std::move(settings)) {}

HttpResponse Router::route(const HttpRequest& request) const {
  try {
    if (request.listener == "cdn") {
      return route_cdn(request);
    }
    return route_api(request);
  } catch (const std::exception& error) {
    spdlog::error("{} {} failed: {}", request.method, request.raw_path, error.what());
    return error_response(500, "", std::string("internal error: ") + error.what());
  }
}

HttpResponse Router::route_api(const HttpRequest& request) const {
  const auto raw_segments = split(request.raw_path, '/');
  std::vector<std::string> segments;
  for (std::size_t i = 1; i < raw_segments.size(); ++i) {
    const auto decoded = percent_decode(raw_segments[i]);
    if (!decoded) {
      return error_response(400, "", "invalid percent-encoding in the URL path");
    }
    segments.push_back(*decoded);
  }
  const bool read_method = request.method == "GET" || request.method == "HEAD";

  // /{org}/{name}/resolve/{revision}/{path}
  if (segments.size() >= 4 && segments[2] == "resolve" && !is_other_repo_type(segments[0])) {
    if (!read_method) {
      return error_response(405, "", "method not allowed");
    }
    return resolve(request, segments);
  }
  if (segments.size() >= 4 && segments[3] == "resolve" && is_other_repo_type(segments[0])) {
    return check_access(request, nullptr, Access::files).value();
  }

  if (segments.size() >= 2 && segments[0] == "api" && segments[1] == "resolve-cache") {
    if (!read_method) {
      return error_response(405, "", "method not allowed");
    }
    return resolve_cache(request, segments);
  }

  if (segments.size() >= 4 && segments[0] == "api") {
    if (segments[1] != "models") {
      return check_access(request, nullptr, Access::metadata).value();
    }
    const auto repository = m_store.find(segments[2] + "/" + segments[3]);
    if (repository) {
      if (auto redirect = rename_redirect(request, *repository)) {
        return std::move(*redirect);
      }
    }
    if (auto denied = check_access(request, repository.get(), Access::metadata)) {
      return std::move(*denied);
    }
    const auto action = segments.size() > 4 ? segments[4] : std::string();

    if (action.empty() && request.method == "GET") {
      return model_info(request, *repository, "main");
    }
    if (action == "revision" && segments.size() > 5 && request.method == "GET") {
      return model_info(request, *repository, take_revision(segments, 5).first);
    }
    if (action == "tree" && segments.size() > 5 && request.method == "GET") {
      const auto [revision, next] = take_revision(segments, 5);
      return tree(request, *repository, revision, join(segments, next));
    }
    if (action == "refs" && segments.size() == 5 && request.method == "GET") {
      return refs(request, *repository);
    }
    if (action == "paths-info" && segments.size() > 5 && request.method == "POST") {
      return paths_info(request, *repository, take_revision(segments, 5).first);
    }
  }
  return error_response(404, "", "Sorry, we can't find the page you are looking for.");
}

HttpResponse Router::route_cdn(const HttpRequest& request) const {
  if (!request.header("Authorization").empty()) {
    HttpResponse response;
    response.status = 400;
    response.set_header("Content-Type", "text/plain; charset=utf-8");
    response.text = "Only one auth mechanism allowed: the request carries both an X-Sig query signature and an "
                    "Authorization header. Drop the Authorization header when following a redirect to this host.";
    return response;
  }
  const auto segments = split(request.raw_path, '/');
  if (segments.size() == 3 && segments[1] == "blobs" && (request.method == "GET" || request.method == "HEAD")) {
    return cdn_blob(request, {std::string(segments[2])});
  }
  HttpResponse response;
  response.status = 404;
  response.set_header("Content-Type", "text/plain; charset=utf-8");
  response.text = "no such object";
  return response;
}

std::optional<HttpResponse> Router::rename_redirect(const HttpRequest& request, const Repository& repository) {
  const auto& new_id = repository.config.renamed_to;
  if (new_id.empty()) {
    return std::nullopt;
  }
  const auto old_segment = "/" + repository.id;
  const auto at = request.target.find(old_segment);
  const auto after = at == std::string::npos ? at : at + old_segment.size();
  if (at == std::string::npos ||
      (after < request.target.size() && request.target[after] != '/' && request.target[after] != '?')) {
    return std::nullopt;
  }
  auto location = request.target;
  location.replace(at, old_segment.size(), "/" + new_id);
  HttpResponse response;
  response.status = 307;
  response.set_header("Location", location);
  response.set_header("Content-Type", "text/plain; charset=utf-8");
  response.text = "Temporary Redirect. Redirecting to " + location;
  return response;
}

bool Router::has_valid_token(const HttpRequest& request) const {
  const auto authorization = request.header("Authorization");
  return !m_settings.token.empty() && authorization == "Bearer " + m_settings.token;
}

std::optional<HttpResponse> Router::check_access(const HttpRequest& request, const Repository* repository,
                                                 Access access) const {
  const bool has_credentials = !request.header("Authorization").empty();
  const bool authenticated = has_valid_token(request);
  if (has_credentials && !authenticated) {
    return error_response(401, "", k_invalid_credentials);
  }

  // Like huggingface.co, an anonymous caller cannot tell a private repository from a
  // missing one: both are 401 RepoNotFound.
  if (repository == nullptr || (repository->config.is_private && !authenticated)) {
    auto response = error_response(authenticated ? 404 : 401, "RepoNotFound", "Repository not found");
    return response;
  }
  if (repository->config.disabled) {
    return error_response(403, "", k_disabled);
  }
  if (access == Access::files && repository->config.gated && !authenticated) {
    return error_response(401, "GatedRepo",
                          "Access to model " + repository->id +
                              " is restricted. You must have access to it and be authenticated to access it. "
                              "Please log in.");
  }
  return std::nullopt;
}

} // namespace timmd::testhub

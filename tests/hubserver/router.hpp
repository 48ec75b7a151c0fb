// Maps a request on the API or CDN listener to the Hub's response.
#pragma once

#include "tests/hubserver/http_message.hpp"
#include "tests/hubserver/repository_store.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace timmd::testhub {

struct RouterSettings {
  std::string token;            // the only valid Bearer token; empty means none is valid
  std::size_t tree_page_size = 1000;
  std::string api_base;         // "http://127.0.0.1:P", for absolute pagination links
  std::string cdn_base;         // "http://127.0.0.1:Q", for 302 Locations
};

// Thread-safe: it keeps no state of its own besides the settings, which are fixed once the
// listeners are bound.
class Router {
 public:
  Router(RepositoryStore& store, RouterSettings settings);

  HttpResponse route(const HttpRequest& request) const;

 private:
  enum class Access { metadata, files };

  HttpResponse route_api(const HttpRequest& request) const;
  HttpResponse route_cdn(const HttpRequest& request) const;

  // Returns the error response when the request may not see `repository` (nullptr when it
  // does not exist) for this kind of access, or nullopt when access is granted.
  std::optional<HttpResponse> check_access(const HttpRequest& request, const Repository* repository,
                                           Access access) const;
  bool has_valid_token(const HttpRequest& request) const;
  // Returns a 307 to the new name when `repository` was renamed, or nullopt.
  static std::optional<HttpResponse> rename_redirect(const HttpRequest& request, const Repository& repository);

  // resolve_routes.cpp
  HttpResponse resolve(const HttpRequest& request, const std::vector<std::string>& segments) const;
  HttpResponse resolve_cache(const HttpRequest& request, const std::vector<std::string>& segments) const;
  HttpResponse file_response(const HttpRequest& request, const RepoFile& file) const;
  HttpResponse cdn_blob(const HttpRequest& request, const std::vector<std::string>& segments) const;

  // api_routes.cpp
  HttpResponse model_info(const HttpRequest& request, const Repository& repository, std::string_view revision) const;
  HttpResponse tree(const HttpRequest& request, const Repository& repository, std::string_view revision,
                    std::string_view path) const;
  HttpResponse refs(const HttpRequest& request, const Repository& repository) const;
  HttpResponse paths_info(const HttpRequest& request, const Repository& repository, std::string_view revision) const;

  RepositoryStore& m_store;
  RouterSettings m_settings;
};

// Returns the query signature the CDN listener expects for `etag`.
std::string cdn_signature(std::string_view etag);

// Returns the ETag the CDN listener sends for a blob: deliberately not the Hub etag, as
// real CDNs send their own.
std::string cdn_etag(std::string_view etag);

} // namespace timmd::testhub

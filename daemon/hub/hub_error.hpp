// Translation of failed Hub responses into protocol errors a user can act on.
#pragma once

#include "daemon/hub/http.hpp"
#include "proto/error.hpp"

#include <string>

namespace timmd::hub {

// Subject of a failed request (endpoint, repository, revision, file), for the message.
struct HubRequestContext {
  std::string endpoint;
  std::string repo;
  std::string revision;
  std::string path; // empty for repository-level requests
  int attempts = 1;
};

// Maps X-Error-Code, X-Error-Message, the status and curl's result to a protocol error:
// RepoNotFound -> not_found, RevisionNotFound -> revision_not_found, EntryNotFound -> not_found,
// GatedRepo -> gated, a rejected token -> unauthorized, 429 and 5xx -> upstream_unavailable,
// timeouts -> timeout, connection failures -> upstream_unavailable.
proto::Error hub_error(const HttpResponse& response, const HubRequestContext& context);

} // namespace timmd::hub

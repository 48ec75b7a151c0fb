#include "daemon/hub/hub_error.hpp"

#include "daemon/hub/hub_url.hpp"

namespace timmd::hub {
namespace {

using proto::Errc;

std::string subject(const HubRequestContext& context) {
  std::string text = "repository '" + context.repo + "'";
  if (!context.revision.empty()) {
    text += " at revision '" + context.revision + "'";
  }
  if (!context.path.empty()) {
    text = "file '" + context.path + "' of " + text;
  }
  return text;
}

std::string server_message(const HttpResponse& response) {
  auto message = response.header("x-error-message");
  if (message.empty() && !response.body.empty() && response.body.size() < 2000) {
    const auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (body.is_object() && body.contains("error") && body["error"].is_string()) {
      message = body["error"].get<std::string>();
    }
  }
  return message;
}

} // namespace

proto::Error hub_error(const HttpResponse& response, const HubRequestContext& context) {
  nlohmann::json details = {{"endpoint", context.endpoint}, {"repo", context.repo}};
  if (!context.revision.empty()) {
    details["revision"] = context.revision;
  }
  if (!context.path.empty()) {
    details["path"] = context.path;
  }
  const std::string attempts = context.attempts > 1 ? " after " + std::to_string(context.attempts) + " attempts" : "";

  if (!response.transport_ok()) {
    details["curl_error"] = response.curl_error;
    if (response.shutdown) {
      return proto::make_error(Errc::busy,
                               "the daemon is shutting down, so it stopped fetching " + subject(context) +
                                   "; completed chunks are kept, run the request again once timmd is back",
                               details);
    }
    if (response.curl_code == CURLE_OPERATION_TIMEDOUT) {
      return proto::make_error(Errc::timeout,
                               "timed out fetching " + subject(context) + " from " + context.endpoint + attempts +
                                   ": " + response.curl_error,
                               details);
    }
    return proto::make_error(Errc::upstream_unavailable,
                             "could not reach " + context.endpoint + " for " + subject(context) + attempts + ": " +
                                 response.curl_error + "; check the network or the endpoint (HF_ENDPOINT, --endpoint)",
                             details);
  }

  details["status"] = response.status;
  const auto code = response.header("x-error-code");
  const auto message = server_message(response);
  if (!code.empty()) {
    details["hub_error_code"] = code;
  }
  if (!message.empty()) {
    details["hub_message"] = message;
  }

  if (code == "RevisionNotFound") {
    return proto::make_error(Errc::revision_not_found,
                             "revision '" + context.revision + "' not found in repository '" + context.repo +
                                 "'; use a branch, tag or full commit hash that exists",
                             details);
  }
  if (code == "EntryNotFound") {
    return proto::make_error(Errc::not_found, subject(context) + " not found on the Hub", details);
  }
  if (code == "GatedRepo") {
    return proto::make_error(Errc::gated,
                             "repository '" + context.repo + "' is gated: accept its conditions at " +
                                 context.endpoint + "/" + context.repo +
                                 " and give timmd a token of that account (HF_TOKEN or token_file)",
                             details);
  }
  if (message == "Access to this resource is disabled.") {
    return proto::make_error(Errc::not_found, "repository '" + context.repo + "' has been disabled on the Hub",
                             details);
  }
  if (response.status == 401 && message == "Invalid credentials in Authorization header") {
    return proto::make_error(Errc::unauthorized,
                             "the Hub rejected the token for " + subject(context) +
                                 "; check HF_TOKEN or the token_file in the configuration",
                             details);
  }
  if (code == "RepoNotFound" || response.status == 401 || response.status == 404) {
    return proto::make_error(Errc::not_found,
                             subject(context) + " not found on " + context.endpoint +
                                 "; check the name, or set HF_TOKEN if the repository is private",
                             details);
  }
  if (response.status == 403) {
    return proto::make_error(Errc::unauthorized,
                             "the Hub denied access to " + subject(context) + (message.empty() ? "" : ": " + message),
                             details);
  }
  if (response.status == 429) {
    return proto::make_error(Errc::upstream_unavailable,
                             "the Hub rate-limited requests for " + subject(context) + attempts + "; wait and retry",
                             details);
  }
  return proto::make_error(Errc::upstream_unavailable,
                           "the Hub answered HTTP " + std::to_string(response.status) + " for " + subject(context) +
                               attempts + (message.empty() ? "" : ": " + message),
                           details);
}

} // namespace timmd::hub

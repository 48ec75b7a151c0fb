#include "daemon/hub/hub_error.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>

using timmd::hub::HttpResponse;
using timmd::hub::hub_error;
using timmd::hub::HubRequestContext;
using timmd::proto::Errc;

namespace {

const HubRequestContext k_file{"https://hub.test", "org/model", "main", "model.safetensors", 1};
const HubRequestContext k_repo{"https://hub.test", "org/model", "main", "", 1};

HttpResponse error_response(long status, std::string error_code = "", std::string message = "") {
  HttpResponse response;
  response.status = status;
  if (!error_code.empty()) {
    response.headers.emplace_back("x-error-code", std::move(error_code));
  }
  if (!message.empty()) {
    response.headers.emplace_back("x-error-message", std::move(message));
  }
  return response;
}

HttpResponse transport_failure(CURLcode code, std::string text) {
  HttpResponse response;
  response.curl_code = code;
  response.curl_error = std::move(text);
  return response;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("hub_error: RevisionNotFound") {
  const auto error = hub_error(error_response(404, "RevisionNotFound", "Invalid rev id: main"), k_repo);
  CHECK(error.code == Errc::revision_not_found);
  CHECK(contains(error.message, "revision 'main'"));
  CHECK(contains(error.message, "org/model"));
}

TEST_CASE("hub_error: EntryNotFound") {
  const auto error = hub_error(error_response(404, "EntryNotFound", "Entry not found"), k_file);
  CHECK(error.code == Errc::not_found);
  CHECK(contains(error.message, "model.safetensors"));
}

TEST_CASE("hub_error: RepoNotFound suggests token") {
  const auto error = hub_error(error_response(401, "RepoNotFound", "Repository not found"), k_repo);
  CHECK(error.code == Errc::not_found);
  CHECK(contains(error.message, "https://hub.test"));
  CHECK(contains(error.message, "HF_TOKEN"));
}

TEST_CASE("hub_error: plain 404 not found") {
  CHECK(hub_error(error_response(404), k_repo).code == Errc::not_found);
}

TEST_CASE("hub_error: GatedRepo names where to accept") {
  const auto error = hub_error(error_response(401, "GatedRepo", "Access restricted"), k_file);
  CHECK(error.code == Errc::gated);
  CHECK(contains(error.message, "https://hub.test/org/model"));
  CHECK(contains(error.message, "HF_TOKEN"));
}

TEST_CASE("hub_error: disabled repository") {
  const auto error = hub_error(error_response(403, "", "Access to this resource is disabled."), k_repo);
  CHECK(error.code == Errc::not_found);
  CHECK(contains(error.message, "disabled"));
}

TEST_CASE("hub_error: rejected token") {
  const auto error = hub_error(error_response(401, "", "Invalid credentials in Authorization header"), k_repo);
  CHECK(error.code == Errc::unauthorized);
  CHECK(contains(error.message, "token"));
}

TEST_CASE("hub_error: 403 denied") {
  const auto error = hub_error(error_response(403, "", "You have no access"), k_repo);
  CHECK(error.code == Errc::unauthorized);
  CHECK(contains(error.message, "You have no access"));
}

TEST_CASE("hub_error: 429 rate limited") {
  auto context = k_repo;
  context.attempts = 4;
  const auto error = hub_error(error_response(429), context);
  CHECK(error.code == Errc::upstream_unavailable);
  CHECK(contains(error.message, "rate-limited"));
  CHECK(contains(error.message, "after 4 attempts"));
}

TEST_CASE("hub_error: 5xx unavailable") {
  for (const long status : {500L, 502L, 503L, 504L}) {
    CAPTURE(status);
    const auto error = hub_error(error_response(status), k_repo);
    CHECK(error.code == Errc::upstream_unavailable);
    CHECK(contains(error.message, "HTTP " + std::to_string(status)));
  }
}

TEST_CASE("hub_error: single attempt not mentioned") {
  const auto error = hub_error(error_response(503), k_repo);
  CHECK_FALSE(contains(error.message, "attempts"));
}

TEST_CASE("hub_error: JSON body message used") {
  auto response = error_response(500);
  response.body = R"({"error": "internal hiccup"})";
  const auto error = hub_error(response, k_repo);
  CHECK(contains(error.message, "internal hiccup"));
  CHECK(error.details.value("hub_message", "") == "internal hiccup");
}

TEST_CASE("hub_error: non-JSON body ignored") {
  auto response = error_response(502);
  response.body = "<html>Bad Gateway</html>";
  const auto error = hub_error(response, k_repo);
  CHECK(error.code == Errc::upstream_unavailable);
  CHECK_FALSE(error.details.contains("hub_message"));
}

TEST_CASE("hub_error: timeout") {
  const auto error = hub_error(transport_failure(CURLE_OPERATION_TIMEDOUT, "no data received for 30 s"), k_file);
  CHECK(error.code == Errc::timeout);
  CHECK(contains(error.message, "no data received for 30 s"));
  CHECK(error.details.value("curl_error", "") == "no data received for 30 s");
}

TEST_CASE("hub_error: connection failure suggests endpoint") {
  const auto error = hub_error(transport_failure(CURLE_COULDNT_CONNECT, "Connection refused"), k_repo);
  CHECK(error.code == Errc::upstream_unavailable);
  CHECK(contains(error.message, "https://hub.test"));
  CHECK(contains(error.message, "Connection refused"));
  CHECK(contains(error.message, "HF_ENDPOINT"));
}

TEST_CASE("hub_error: shutdown is busy, not an upstream fault") {
  auto response = transport_failure(CURLE_ABORTED_BY_CALLBACK, "the daemon is shutting down");
  response.shutdown = true;
  const auto error = hub_error(response, k_file);
  CHECK(error.code == Errc::busy);
  CHECK(contains(error.message, "shutting down"));
  CHECK(contains(error.message, "model.safetensors"));
  CHECK_FALSE(contains(error.message, "HF_ENDPOINT"));
}

TEST_CASE("hub_error: details name the request") {
  const auto error = hub_error(error_response(404, "EntryNotFound"), k_file);
  CHECK(error.details.value("endpoint", "") == "https://hub.test");
  CHECK(error.details.value("repo", "") == "org/model");
  CHECK(error.details.value("revision", "") == "main");
  CHECK(error.details.value("path", "") == "model.safetensors");
  CHECK(error.details.value("status", 0) == 404);
  CHECK(error.details.value("hub_error_code", "") == "EntryNotFound");
}

TEST_CASE("hub_error: repository request has no path") {
  const auto error = hub_error(error_response(404), k_repo);
  CHECK_FALSE(error.details.contains("path"));
  CHECK_FALSE(contains(error.message, "file '"));
}

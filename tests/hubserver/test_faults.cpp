// Every fault kind, fault matching and counting, and faults added over HTTP.
#include "tests/hubserver/file_hashes.hpp"
#include "tests/hubserver/test_support.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <future>

using namespace timmd::testhub;
using namespace timmd::testhub::testing;

namespace {

constexpr int k_curl_partial_file = 18;

Fault make_fault(FaultKind kind, std::string path = "*", std::uint32_t count = 1) {
  Fault fault;
  fault.kind = kind;
  fault.match.path = std::move(path);
  fault.count = count;
  return fault;
}

std::string cdn_url(const HubFixture& hub) {
  return fetch("HEAD", hub.url("/org/model/resolve/main/model.safetensors")).header("Location");
}

} // namespace

TEST_CASE("close_after cuts the body then the next request succeeds") {
  HubFixture hub;
  const auto url = cdn_url(hub);
  auto fault = make_fault(FaultKind::close_after, "/blobs/*");
  fault.bytes = 1000;
  hub.server->add_fault(fault);

  const auto cut = fetch("GET", url);
  CHECK(cut.status == 200);
  CHECK(cut.curl_code == k_curl_partial_file);
  CHECK(cut.body == hub.model_bytes.substr(0, 1000));
  CHECK(cut.header("Content-Length") == std::to_string(hub.model_bytes.size()));

  const auto whole = fetch("GET", url);
  CHECK(whole.curl_code == 0);
  CHECK(whole.body == hub.model_bytes);
}

TEST_CASE("stall pauses one connection only") {
  HubFixture hub;
  const auto url = cdn_url(hub);
  auto fault = make_fault(FaultKind::stall, "/blobs/*");
  fault.after_bytes = 100;
  fault.ms = 1500;
  hub.server->add_fault(fault);

  const auto started = std::chrono::steady_clock::now();
  auto stalled = std::async(std::launch::async, [&] { return fetch("GET", url); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto other = fetch("GET", hub.url("/api/models/org/model"));
  const auto other_elapsed = std::chrono::steady_clock::now() - started;
  CHECK(other.status == 200);
  CHECK(other_elapsed < std::chrono::milliseconds(1000));

  const auto result = stalled.get();
  CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(1500));
  CHECK(result.body == hub.model_bytes);
}

TEST_CASE("stall before the status line times out a HEAD") {
  HubFixture hub;
  auto fault = make_fault(FaultKind::stall, "*/config.json");
  fault.after_bytes = 0;
  fault.ms = 2000;
  hub.server->add_fault(fault);
  const auto result = fetch("HEAD", hub.url("/org/model/resolve/main/config.json"), {.timeout_ms = 300});
  CHECK(result.curl_code == 28); // CURLE_OPERATION_TIMEDOUT
}

TEST_CASE("ignore_range answers 200 with everything") {
  HubFixture hub;
  const auto url = cdn_url(hub);
  hub.server->add_fault(make_fault(FaultKind::ignore_range));
  const auto result = fetch("GET", url, {.headers = {"Range: bytes=100-"}});
  CHECK(result.status == 200);
  CHECK(result.body == hub.model_bytes);
  CHECK_FALSE(result.has_header("Content-Range"));
}

TEST_CASE("wrong_bytes keeps the length and breaks the hash") {
  HubFixture hub;
  const auto url = cdn_url(hub);
  hub.server->add_fault(make_fault(FaultKind::wrong_bytes));
  const auto result = fetch("GET", url);
  CHECK(result.status == 200);
  CHECK(result.body.size() == hub.model_bytes.size());
  CHECK(result.body != hub.model_bytes);
  CHECK(sha256_hex(result.body) != sha256_hex(hub.model_bytes));
}

TEST_CASE("length_mismatch declares another length") {
  HubFixture hub;
  const auto url = cdn_url(hub);
  const auto size = hub.model_bytes.size();

  auto longer = make_fault(FaultKind::length_mismatch);
  longer.delta = 10;
  hub.server->add_fault(longer);
  const auto short_body = fetch("GET", url);
  CHECK(short_body.header("Content-Length") == std::to_string(size + 10));
  CHECK(short_body.curl_code == k_curl_partial_file);
  CHECK(short_body.body == hub.model_bytes);

  auto shorter = make_fault(FaultKind::length_mismatch);
  shorter.delta = -10;
  hub.server->add_fault(shorter);
  const auto long_body = fetch("GET", url);
  CHECK(long_body.header("Content-Length") == std::to_string(size - 10));
  CHECK(long_body.body == hub.model_bytes.substr(0, size - 10));

  auto on_head = make_fault(FaultKind::length_mismatch);
  on_head.delta = 5;
  hub.server->add_fault(on_head);
  const auto redirect = fetch("HEAD", hub.url("/org/model/resolve/main/model.safetensors"));
  CHECK(redirect.status == 302);
  CHECK(redirect.header("X-Linked-Size") == std::to_string(size));
}

TEST_CASE("status faults with rate limit headers") {
  HubFixture hub;
  auto retry_after = make_fault(FaultKind::status, "*/config.json");
  retry_after.status = 429;
  retry_after.retry_after = 1;
  hub.server->add_fault(retry_after);
  const auto first = fetch("HEAD", hub.url("/org/model/resolve/main/config.json"));
  CHECK(first.status == 429);
  CHECK(first.header("Retry-After") == "1");

  auto ratelimit = make_fault(FaultKind::status, "*/config.json");
  ratelimit.status = 429;
  ratelimit.ratelimit_reset = 2;
  hub.server->add_fault(ratelimit);
  const auto second = fetch("HEAD", hub.url("/org/model/resolve/main/config.json"));
  CHECK(second.status == 429);
  CHECK(second.header("RateLimit") == "\"resolvers\";r=0;t=2");

  auto server_error = make_fault(FaultKind::status, "*/config.json");
  server_error.status = 503;
  server_error.error_code = "RepoNotFound";
  server_error.message = "try later";
  hub.server->add_fault(server_error);
  const auto third = fetch("GET", hub.url("/org/model/resolve/main/config.json"));
  CHECK(third.status == 503);
  CHECK(third.header("X-Error-Code") == "RepoNotFound");
  CHECK(third.header("X-Error-Message") == "try later");
  CHECK(third.body == R"({"error":"try later"})");

  CHECK(fetch("HEAD", hub.url("/org/model/resolve/main/config.json")).status == 307);
}

TEST_CASE("drop_header removes metadata") {
  HubFixture hub;
  for (const auto* header : {"X-Repo-Commit", "X-Linked-Etag", "X-Linked-Size", "ETag"}) {
    CAPTURE(header);
    auto fault = make_fault(FaultKind::drop_header);
    fault.header = header;
    hub.server->add_fault(fault);
    const auto result = fetch("HEAD", hub.url("/org/styles/resolve/main/config.json"));
    CHECK(result.status == 200);
    CHECK_FALSE(result.has_header(header));
    CHECK(result.has_header("Content-Length"));
  }
}

TEST_CASE("weak, unquoted and changed etags") {
  HubFixture hub;
  const auto url = hub.url("/org/styles/resolve/main/config.json");
  const auto etag = git_blob_sha1("{}\n");

  hub.server->add_fault(make_fault(FaultKind::weak_etag));
  const auto weak = fetch("HEAD", url);
  CHECK(weak.header("ETag") == "W/\"" + etag + "\"");
  CHECK(weak.header("X-Linked-Etag") == "W/\"" + etag + "\"");

  hub.server->add_fault(make_fault(FaultKind::unquoted_etag));
  const auto unquoted = fetch("HEAD", url);
  CHECK(unquoted.header("ETag") == etag);
  CHECK(unquoted.header("X-Linked-Etag") == etag);

  auto changed = make_fault(FaultKind::change_etag);
  changed.etag = std::string(40, 'a');
  hub.server->add_fault(changed);
  const auto moved = fetch("HEAD", url);
  CHECK(moved.header("ETag") == "\"" + std::string(40, 'a') + "\"");
  CHECK(moved.header("X-Linked-Etag") == "\"" + std::string(40, 'a') + "\"");

  CHECK(fetch("HEAD", url).header("ETag") == "\"" + etag + "\"");
}

TEST_CASE("redirect_loop points at itself") {
  HubFixture hub;
  hub.server->add_fault(make_fault(FaultKind::redirect_loop, "*", 0));
  const auto result = fetch("HEAD", hub.url("/org/model/resolve/main/config.json"));
  CHECK(result.status == 307);
  CHECK(result.header("Location") == "/org/model/resolve/main/config.json");
  const auto followed = fetch("GET", hub.url("/org/model/resolve/main/config.json"), {.follow_redirects = true});
  CHECK(followed.curl_code == 47); // CURLE_TOO_MANY_REDIRECTS
}

TEST_CASE("fault count and matching") {
  HubFixture hub;
  const auto url = hub.url("/org/model/resolve/main/config.json");
  auto twice = make_fault(FaultKind::status, "/org/model/resolve/*", 2);
  twice.status = 500;
  hub.server->add_fault(twice);
  CHECK(fetch("HEAD", url).status == 500);
  CHECK(fetch("HEAD", url).status == 500);
  CHECK(fetch("HEAD", url).status == 307);

  auto always = make_fault(FaultKind::status, "*", 0);
  always.status = 502;
  always.match.method = "GET";
  always.match.listener = "cdn";
  hub.server->add_fault(always);
  for (int i = 0; i < 3; ++i) {
    CHECK(fetch("GET", cdn_url(hub)).status == 502);
  }
  CHECK(fetch("HEAD", cdn_url(hub)).status == 200);
  CHECK(fetch("GET", hub.url("/api/models/org/model")).status == 200);

  auto decoded = make_fault(FaultKind::status, "*/with space.txt");
  decoded.status = 504;
  hub.server->add_fault(decoded);
  CHECK(fetch("HEAD", hub.url("/org/model/resolve/main/names/with%20space.txt")).status == 504);

  hub.server->clear_faults();
  CHECK(fetch("GET", cdn_url(hub)).status == 200);
}

TEST_CASE("faults over the control routes") {
  HubFixture hub;
  const auto added = fetch("POST", hub.url("/_testhub/faults"),
                           {.body = R"({"match": {"path": "*/config.json", "method": "HEAD"}, "count": 1,
                                        "kind": "status", "status": 429, "ratelimit_reset": 1})"});
  CHECK(added.status == 200);
  const auto limited = fetch("HEAD", hub.url("/org/model/resolve/main/config.json"));
  CHECK(limited.status == 429);
  CHECK(limited.header("RateLimit") == "\"resolvers\";r=0;t=1");

  CHECK(fetch("POST", hub.url("/_testhub/faults"), {.body = R"({"kind": "nope"})"}).status == 400);
  CHECK(fetch("POST", hub.url("/_testhub/faults"), {.body = "not json"}).status == 400);

  fetch("POST", hub.url("/_testhub/faults"), {.body = R"({"kind": "status", "status": 500, "count": 0})"});
  CHECK(fetch("GET", hub.url("/api/models/org/model")).status == 500);
  CHECK(fetch("GET", hub.url("/_testhub/requests")).status == 200);
  CHECK(fetch("DELETE", hub.url("/_testhub/faults")).status == 200);
  CHECK(fetch("GET", hub.url("/api/models/org/model")).status == 200);
}

// Upstream fault matrix: each fault kind of the test Hub, at the points where a download can
// meet it, must end in a verified blob or in the expected typed error within its deadline.
// Cases that tests/integration already runs (a cut after 300 000 bytes, wrong bytes on a ranged
// GET, one 429, 503 bursts, a stall past the deadline) are not repeated here.
#include "tests/campaign/cache_checker.hpp"
#include "tests/campaign/campaign_support.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <iostream>

using namespace timmd::campaign;
using timmd::proto::Errc;
using timmd::testhub::Fault;
using timmd::testhub::FaultKind;
using timmd::testing::DaemonOptions;
using timmd::testing::DaemonProcess;
using timmd::testing::ScratchDir;
using nlohmann::json;

namespace {

constexpr std::uint64_t k_chunk = 1024 * 1024;
constexpr std::uint64_t k_file_size = 4 * k_chunk + 1234; // five chunks, the last one short

// Where a case's faults apply: the metadata HEAD of its repository on the API listener, or
// the GETs of its file on the CDN.
struct Target {
  std::string api_path; // glob for the repository's /resolve/ routes
  std::string cdn_path; // the file's /blobs/<sha256> route
};

Fault fault_on(const std::string& listener, const std::string& method, const std::string& path, FaultKind kind,
               std::uint32_t count) {
  Fault fault;
  fault.match = {listener, method, path};
  fault.kind = kind;
  fault.count = count;
  return fault;
}

Fault cdn_get(const Target& target, FaultKind kind, std::uint32_t count) {
  return fault_on("cdn", "GET", target.cdn_path, kind, count);
}

Fault api_head(const Target& target, FaultKind kind, std::uint32_t count) {
  return fault_on("api", "HEAD", target.api_path, kind, count);
}

Fault cut_after(Fault fault, std::uint64_t bytes) {
  fault.bytes = bytes;
  return fault;
}

Fault with_status(Fault fault, int status) {
  fault.status = status;
  return fault;
}

Fault with_delta(Fault fault, std::int64_t delta) {
  fault.delta = delta;
  return fault;
}

struct FaultCase {
  std::string name;
  std::function<std::vector<Fault>(const Target&)> faults;
  std::optional<Errc> expected_error; // nothing: the pull must succeed
};

std::vector<FaultCase> fault_cases() {
  std::vector<FaultCase> cases = {
    {"close_after 0 bytes on four chunk GETs",
     [](const Target& t) { return std::vector{cut_after(cdn_get(t, FaultKind::close_after, 4), 0)}; }, {}},
    {"close_after 1 byte on four chunk GETs",
     [](const Target& t) { return std::vector{cut_after(cdn_get(t, FaultKind::close_after, 4), 1)}; }, {}},
    {"close_after the last byte but one of four chunks",
     [](const Target& t) { return std::vector{cut_after(cdn_get(t, FaultKind::close_after, 4), k_chunk - 1)}; }, {}},
    {"truncation at half of every response",
     [](const Target& t) { return std::vector{cut_after(cdn_get(t, FaultKind::close_after, 0), k_chunk / 2)}; }, {}},
    {"truncation before progress on every response",
     [](const Target& t) { return std::vector{cut_after(cdn_get(t, FaultKind::close_after, 0), 100'000)}; },
     Errc::upstream_unavailable},
    {"stall shorter than the stall timeout",
     [](const Target& t) {
       auto stall = cdn_get(t, FaultKind::stall, 4);
       stall.after_bytes = 1000;
       stall.ms = 1500;
       return std::vector{stall};
     },
     {}},
    {"stall before the status line",
     [](const Target& t) {
       auto stall = api_head(t, FaultKind::stall, 1);
       stall.ms = 1500;
       return std::vector{stall};
     },
     {}},
    {"500 burst on chunk GETs",
     [](const Target& t) { return std::vector{with_status(cdn_get(t, FaultKind::status, 3), 500)}; }, {}},
    {"502 burst on the metadata HEAD",
     [](const Target& t) { return std::vector{with_status(api_head(t, FaultKind::status, 2), 502)}; }, {}},
    {"504 on every chunk GET",
     [](const Target& t) { return std::vector{with_status(cdn_get(t, FaultKind::status, 0), 504)}; },
     Errc::upstream_unavailable},
    {"429 storm with Retry-After on every chunk GET",
     [](const Target& t) {
       auto storm = with_status(cdn_get(t, FaultKind::status, 0), 429);
       storm.retry_after = 1;
       return std::vector{storm};
     },
     Errc::upstream_unavailable},
    {"429 burst with a RateLimit reset on the metadata HEAD",
     [](const Target& t) {
       auto burst = with_status(api_head(t, FaultKind::status, 3), 429);
       burst.ratelimit_reset = 1;
       return std::vector{burst};
     },
     {}},
    {"ignore_range on every GET",
     [](const Target& t) { return std::vector{cdn_get(t, FaultKind::ignore_range, 0)}; }, {}},
    {"wrong_bytes in a whole-file stream",
     [](const Target& t) {
       return std::vector{cdn_get(t, FaultKind::ignore_range, 0), cdn_get(t, FaultKind::wrong_bytes, 0)};
     },
     Errc::integrity_error},
    // The whole range arrives before the connection closes short of the declared length.
    {"length_mismatch larger once",
     [](const Target& t) { return std::vector{with_delta(cdn_get(t, FaultKind::length_mismatch, 1), 1000)}; }, {}},
    {"length_mismatch larger on every GET",
     [](const Target& t) { return std::vector{with_delta(cdn_get(t, FaultKind::length_mismatch, 0), 1000)}; }, {}},
    {"length_mismatch smaller once",
     [](const Target& t) { return std::vector{with_delta(cdn_get(t, FaultKind::length_mismatch, 1), -1000)}; }, {}},
    {"length_mismatch smaller on every GET",
     [](const Target& t) { return std::vector{with_delta(cdn_get(t, FaultKind::length_mismatch, 0), -1000)}; },
     Errc::upstream_unavailable},
    {"change_etag between the file list and the HEAD",
     [](const Target& t) {
       auto changed = api_head(t, FaultKind::change_etag, 0);
       changed.etag = std::string(64, 'e');
       return std::vector{changed};
     },
     Errc::upstream_unavailable},
    {"change_etag on the CDN GETs",
     [](const Target& t) {
       auto changed = cdn_get(t, FaultKind::change_etag, 0);
       changed.etag = std::string(64, 'e');
       return std::vector{changed};
     },
     {}},
    {"redirect_loop on the metadata HEAD",
     [](const Target& t) { return std::vector{api_head(t, FaultKind::redirect_loop, 0)}; },
     Errc::upstream_unavailable},
    {"redirect_loop on the chunk GETs",
     [](const Target& t) { return std::vector{cdn_get(t, FaultKind::redirect_loop, 0)}; },
     Errc::upstream_unavailable},
  };
  // A whole-file stream cut at each chunk boundary.
  for (std::uint64_t boundary = 1; boundary * k_chunk < k_file_size; ++boundary) {
    cases.push_back({"whole-file stream cut at chunk boundary " + std::to_string(boundary),
                     [boundary](const Target& t) {
                       return std::vector{cdn_get(t, FaultKind::ignore_range, 0),
                                          cut_after(cdn_get(t, FaultKind::close_after, 1), boundary * k_chunk)};
                     },
                     {}});
  }
  return cases;
}

std::string describe(const std::optional<Errc>& error) {
  return error ? std::string(timmd::proto::to_string(*error)) : "success";
}

} // namespace

TEST_CASE("fault matrix: every fault ends in a verified blob or a typed error") {
  const auto deadline = std::chrono::seconds(env_number("TIMMD_CAMPAIGN_FAULT_DEADLINE_S", 90));
  const auto started = std::chrono::steady_clock::now();
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto root = scratch.path() / "hub";
  const auto cases = fault_cases();
  std::vector<RepoFile> files;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    files.push_back(
      make_random_repo_file(root, "org/case-" + std::to_string(i), "pytorch_model.bin", k_file_size, static_cast<unsigned>(300 + i)));
  }
  auto hub = timmd::testing::start_hub(root);
  // Fast retries and a short stall timeout, so that the failing cases end in seconds.
  const json config = {{"download",
                        {{"chunk_size", k_chunk},
                         {"connections_per_file", 4},
                         {"stall_timeout_s", 3},
                         {"retry_attempts", 4},
                         {"retry_base_delay_ms", 50},
                         {"retry_max_delay_ms", 200}}}};
  DaemonProcess daemon(scratch.path() / "daemon", DaemonOptions{hub->endpoint(), config});
  daemon.start();

  std::size_t faults_injected = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& fault_case = cases[i];
    const auto& file = files[i];
    CAPTURE(fault_case.name);
    const Target target{"/" + file.repo + "/*", "/blobs/" + file.sha256};
    for (auto& fault : fault_case.faults(target)) {
      hub->add_fault(std::move(fault));
    }
    hub->clear_requests();

    const auto pulled = request_within(daemon, "pull", {{"name", file.repo}}, deadline);
    REQUIRE_MESSAGE(pulled.result.has_value(), "the pull did not end within " << deadline.count() << " s");
    const auto& result = *pulled.result;
    faults_injected += hub->requests().size();
    std::cout << "  " << fault_case.name << ": " << (result ? "success" : to_string(result.error().code)) << " in "
              << pulled.elapsed.count() << " ms" << std::endl;
    const auto blob = daemon.cache_dir() / "blobs" / "sha256" / file.sha256.substr(0, 2) / file.sha256;
    if (fault_case.expected_error) {
      REQUIRE_FALSE_MESSAGE(result, "expected " << describe(fault_case.expected_error));
      CHECK(result.error().code == *fault_case.expected_error);
      // The message names the file by its path or, for a failed hash check, by its SHA-256.
      const auto& message = result.error().message;
      CHECK_MESSAGE((message.find(file.path) != std::string::npos || message.find(file.sha256) != std::string::npos),
                    message);
      CHECK_FALSE(std::filesystem::exists(blob));
    } else {
      REQUIRE_MESSAGE(result, (result ? "" : result.error().message));
      CHECK((*result)["files"][0]["sha256"] == file.sha256);
      CHECK(file_sha256(blob) == file.sha256);
    }
    hub->clear_faults();
    REQUIRE(daemon.running());
    const auto report = check_cache(daemon.cache_dir(), CacheState::settled);
    CHECK_MESSAGE(report.ok(), report.describe());

    // Once the fault is gone, a failed pull succeeds.
    if (fault_case.expected_error) {
      const auto again = request_within(daemon, "pull", {{"name", file.repo}}, deadline);
      REQUIRE(again.result.has_value());
      CHECK_MESSAGE(*again.result, (*again.result ? "" : again.result->error().message));
    }
  }
  CHECK(daemon.terminate() == 0);
  const auto report = check_cache(daemon.cache_dir(), CacheState::settled);
  CHECK_MESSAGE(report.ok(), report.describe());
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "fault matrix: " << cases.size() << " cases, " << faults_injected << " Hub requests under faults, "
            << seconds << " s" << std::endl;
}

// The transfer engine against a misbehaving connection: a stall is asked again on a new
// connection without spending the retry budget, and a slow chunk at the end of a file gets a
// second request so that one connection does not hold the whole file back, and the number of
// connections grows only while more of them bring more throughput.
#include "tests/integration/daemon_fixture.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace timmd::testing;
using timmd::testhub::Fault;
using timmd::testhub::FaultKind;
using nlohmann::json;

namespace {

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

// A fault of `kind` on the next `count` GETs of the CDN (0: all of them).
Fault cdn_get_fault(FaultKind kind, std::uint32_t count) {
  Fault fault;
  fault.match = {"cdn", "GET", "*"};
  fault.kind = kind;
  fault.count = count;
  return fault;
}

Fault stall_fault(std::uint64_t after_bytes, std::uint64_t ms, std::uint32_t count) {
  auto fault = cdn_get_fault(FaultKind::stall, count);
  fault.after_bytes = after_bytes;
  fault.ms = ms;
  return fault;
}

} // namespace

TEST_CASE("stall retried without spending budget") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto weights = scratch.path() / "src" / "model.safetensors";
  write_random_file(weights, 3ULL * 1024 * 1024, 41);
  make_repo(scratch.path() / "hub", "org/stall", {{"model.safetensors", weights}});
  auto hub = start_hub(scratch.path() / "hub");
  // Two stalls with a budget of two attempts: counted as failures they would end the pull.
  hub->add_fault(stall_fault(256 * 1024, 30'000, 2));
  DaemonProcess daemon(scratch.path() / "daemon",
                       {hub->endpoint(),
                        {{"download",
                          {{"chunk_size", 4 * 1024 * 1024},
                           {"connections_per_file", 1},
                           {"stall_timeout_s", 1},
                           {"retry_attempts", 2}}}}});
  daemon.start();
  auto connection = daemon.connect();

  auto result = connection.request("pull", {{"name", "org/stall"}});
  REQUIRE_MESSAGE(result, (result ? std::string() : result.error().message));
  CHECK((*result)["files"][0]["sha256"] == sha256_of(weights));
  const auto log = daemon.log();
  CHECK(count_of(log, "stalled at byte") == 2);
  CHECK(count_of(log, "asking again on a new connection") == 2);
  CHECK(log.find("retrying chunk") == std::string::npos);

  // Each new request starts where the stalled one stopped.
  std::vector<std::string> ranges;
  for (const auto& record : hub->requests()) {
    if (record.listener == "cdn" && record.method == "GET") {
      ranges.push_back(record.range);
    }
  }
  REQUIRE(ranges.size() == 3);
  CHECK(ranges[0].starts_with("bytes=0-"));
  CHECK_FALSE(ranges[1].starts_with("bytes=0-"));
  CHECK_FALSE(ranges[2].starts_with("bytes=0-"));
}

TEST_CASE("endless stall fails with timeout") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto weights = scratch.path() / "src" / "model.safetensors";
  write_random_file(weights, 1024 * 1024, 42);
  make_repo(scratch.path() / "hub", "org/stall", {{"model.safetensors", weights}});
  auto hub = start_hub(scratch.path() / "hub");
  hub->add_fault(stall_fault(1000, 60'000, 0));
  DaemonProcess daemon(scratch.path() / "daemon",
                       {hub->endpoint(),
                        {{"download", {{"connections_per_file", 1}, {"stall_timeout_s", 1}, {"retry_attempts", 2}}}}});
  daemon.start();
  auto connection = daemon.connect();

  auto result = connection.request("pull", {{"name", "org/stall"}});
  REQUIRE_FALSE(result);
  CHECK(result.error().code == timmd::proto::Errc::timeout);
  CHECK(cached_blobs(daemon.cache_dir()).empty());
}

TEST_CASE("slow last chunk gets second request") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  constexpr std::uint64_t k_chunk = 1024 * 1024;
  const auto weights = scratch.path() / "src" / "model.safetensors";
  write_random_file(weights, 6 * k_chunk, 43);
  make_repo(scratch.path() / "hub", "org/straggler", {{"model.safetensors", weights}});
  auto hub = start_hub(scratch.path() / "hub");
  // One request stalls for longer than the test may take, but not long enough to be a stall.
  constexpr std::uint64_t k_stall_ms = 40'000;
  hub->add_fault(stall_fault(64 * 1024, k_stall_ms, 1));
  DaemonProcess daemon(
    scratch.path() / "daemon",
    {hub->endpoint(),
     {{"download", {{"chunk_size", k_chunk}, {"connections_per_file", 3}, {"stall_timeout_s", 120}}}}});
  daemon.start();
  auto connection = daemon.connect();

  const auto started = std::chrono::steady_clock::now();
  auto result = connection.request("pull", {{"name", "org/straggler"}});
  const auto elapsed = std::chrono::steady_clock::now() - started;
  REQUIRE_MESSAGE(result, (result ? std::string() : result.error().message));
  CHECK((*result)["files"][0]["sha256"] == sha256_of(weights));
  CHECK(elapsed < std::chrono::milliseconds(k_stall_ms / 2));
  const auto log = daemon.log();
  CHECK(log.find("is slow; fetching its last") != std::string::npos);
  CHECK(sha256_of(cached_blobs(daemon.cache_dir()).at(sha256_of(weights))) == sha256_of(weights));
}

TEST_CASE("HTTP 429 halves file connections") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto weights = scratch.path() / "src" / "model.safetensors";
  write_random_file(weights, 8ULL * 1024 * 1024, 44);
  make_repo(scratch.path() / "hub", "org/busy", {{"model.safetensors", weights}});
  auto hub = start_hub(scratch.path() / "hub");
  auto busy = cdn_get_fault(FaultKind::status, 3);
  busy.status = 429;
  busy.retry_after = 0;
  hub->add_fault(busy);
  DaemonProcess daemon(scratch.path() / "daemon", {hub->endpoint(), {{"download", {{"connections_per_file", 4}}}}});
  daemon.start();
  auto connection = daemon.connect();

  auto result = connection.request("pull", {{"name", "org/busy"}});
  REQUIRE_MESSAGE(result, (result ? std::string() : result.error().message));
  CHECK((*result)["files"][0]["sha256"] == sha256_of(weights));
  CHECK(daemon.log().find("HTTP 429 for org/busy/model.safetensors: fetching it on 2 connections instead of 4") !=
        std::string::npos);
}

TEST_CASE("connections double while throughput grows") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto weights = scratch.path() / "src" / "model.safetensors";
  write_random_file(weights, 12ULL * 1024 * 1024, 45);
  make_repo(scratch.path() / "hub", "org/growing", {{"model.safetensors", weights}});
  // Every connection gets 2 MB/s, so every added connection adds as much throughput.
  auto hub = start_hub(scratch.path() / "hub", "", 2'000'000);
  DaemonProcess daemon(scratch.path() / "daemon",
                       {hub->endpoint(), {{"download", {{"connections_per_file", 4}, {"initial_connections", 1}}}}});
  daemon.start();
  auto connection = daemon.connect();

  auto result = connection.request("pull", {{"name", "org/growing"}});
  REQUIRE_MESSAGE(result, (result ? std::string() : result.error().message));
  CHECK((*result)["files"][0]["sha256"] == sha256_of(weights));
  const auto log = daemon.log();
  CHECK(log.find("widening from 1 to 2 connections") != std::string::npos);
  CHECK(log.find("widening from 2 to 4 connections") != std::string::npos);
  CHECK(log.find("% faster than") == std::string::npos);
  // The added connections must fetch at once, not fail and wait for a retry.
  CHECK(log.find("retrying chunk") == std::string::npos);
  CHECK(log.find("curl_multi_add_handle failed") == std::string::npos);
}

TEST_CASE("doubling stops at a full link") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto weights = scratch.path() / "src" / "model.safetensors";
  // Large enough that chunks are left when the doubling to eight, if any, is judged.
  write_random_file(weights, 32ULL * 1024 * 1024, 46);
  make_repo(scratch.path() / "hub", "org/narrow", {{"model.safetensors", weights}});
  // 4 MB/s per connection on an 8 MB/s link: the second connection pays off, the third does not.
  auto hub = start_hub(scratch.path() / "hub", "", 4'000'000, 8'000'000);
  DaemonProcess daemon(scratch.path() / "daemon",
                       {hub->endpoint(), {{"download", {{"connections_per_file", 8}, {"initial_connections", 1}}}}});
  daemon.start();
  auto connection = daemon.connect();

  auto result = connection.request("pull", {{"name", "org/narrow"}});
  REQUIRE_MESSAGE(result, (result ? std::string() : result.error().message));
  CHECK((*result)["files"][0]["sha256"] == sha256_of(weights));
  const auto log = daemon.log();
  INFO("daemon log:\n" << log);
  CHECK(log.find("widening from 1 to 2 connections") != std::string::npos);
  // A slow first window on two connections can let the doubling to four pass, but the doubling
  // to eight never passes.
  const bool kept_two = log.find("4 connections were not 25% faster than 2") != std::string::npos;
  const bool kept_four = log.find("8 connections were not 25% faster than 4") != std::string::npos;
  CHECK((kept_two || kept_four));
  const bool tried_eight = log.find("widening from 4 to 8 connections") != std::string::npos;
  CHECK((!tried_eight || kept_four));
  CHECK(log.find("retrying chunk") == std::string::npos);
}

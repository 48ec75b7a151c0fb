// SIGTERM during downloads: the daemon stops within its shutdown grace period, removes its
// socket, keeps only resumable partials, and the next daemon resumes them.
#include "tests/campaign/cache_checker.hpp"
#include "tests/campaign/campaign_support.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <iostream>
#include <random>
#include <thread>

using namespace timmd::campaign;
using timmd::testing::DaemonOptions;
using timmd::testing::DaemonProcess;
using timmd::testing::ScratchDir;
using nlohmann::json;

namespace {

constexpr std::uint64_t k_mib = 1024 * 1024;
constexpr std::uint64_t k_chunk = 4 * k_mib;
constexpr std::uint64_t k_connections = 4;
constexpr int k_grace_s = 2;

} // namespace

TEST_CASE("SIGTERM campaign: shutdown during pulls") {
  const auto rounds = campaign_size("TIMMD_CAMPAIGN_TERMS", 2, 10);
  const auto seed = campaign_seed();
  const auto rerun = "TIMMD_CAMPAIGN_SEED=" + std::to_string(seed) + " TIMMD_CAMPAIGN_TERMS=" + std::to_string(rounds) +
                     " tests/campaign/test_campaign -tc='SIGTERM campaign*'";
  INFO("seed " << seed << "; rerun with: " << rerun);
  std::mt19937_64 random(seed);
  const auto started = std::chrono::steady_clock::now();

  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto root = scratch.path() / "hub";
  const std::vector<RepoFile> files = {
    make_random_repo_file(root, "org/big", "model.safetensors", 64 * k_mib + 99, 201),
    make_random_repo_file(root, "org/mid", "pytorch_model.bin", 20 * k_mib + 7, 202),
  };
  // Slow enough that the big file is still in flight when SIGTERM arrives: 4 x 2 MiB/s.
  auto hub = timmd::testing::start_hub(root, "", 2 * k_mib);
  const json config = {{"shutdown_grace_s", k_grace_s},
                       {"download",
                        {{"chunk_size", k_chunk},
                         {"connections_per_file", k_connections},
                         {"stall_timeout_s", 120},
                         {"connect_timeout_s", 30}}}};
  DaemonProcess daemon(scratch.path() / "daemon", DaemonOptions{hub->endpoint(), config});

  for (std::uint64_t round = 0; round < rounds; ++round) {
    CAPTURE(round);
    const auto held_before = held_chunks_of(daemon.cache_dir(), files, k_chunk);
    hub->clear_requests();
    daemon.start();
    std::vector<std::thread> pulls;
    for (const auto& file : files) {
      pulls.emplace_back([socket = daemon.socket(), repo = file.repo] {
        auto connection = timmd::client::Connection::open(socket, "campaign");
        if (connection) {
          (void)connection->request("pull", {{"name", repo}});
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(300, 2000)(random)));

    const auto socket = daemon.socket();
    const auto terminating = std::chrono::steady_clock::now();
    const int status = daemon.terminate();
    const auto stopped_after = std::chrono::steady_clock::now() - terminating;
    for (auto& pull : pulls) {
      pull.join();
    }
    CHECK(status == 0);
    // The grace period, plus time for aborting transfers and closing the index; a loaded
    // machine under a sanitizer needs a few seconds more.
    CHECK(stopped_after < std::chrono::seconds(k_grace_s + 10));
    CHECK_FALSE(std::filesystem::exists(socket));
    const auto report = check_cache(daemon.cache_dir(), CacheState::settled);
    CHECK_MESSAGE(report.ok(), report.describe());

    // Every file whose transfer began is either published or kept as a resumable partial.
    const auto records = hub->requests();
    for (const auto& file : files) {
      CAPTURE(file.repo);
      const bool began = served_bytes(records, "/blobs/" + file.sha256) > 0;
      const bool published = has_blob_row(daemon.cache_dir(), file.sha256);
      const bool kept = std::filesystem::exists(daemon.cache_dir() / "tmp" / (file.sha256 + ".partial"));
      CHECK((!began || published || kept));
    }

    const auto refetch = measure_refetch(daemon.cache_dir(), files, held_before, hub->requests(), k_chunk);
    for (const auto& [file, wasted] : refetch.wasted_bytes) {
      CAPTURE(file);
      CHECK(wasted <= k_connections * k_chunk);
    }
    std::cout << "SIGTERM round " << round + 1 << ": stopped in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(stopped_after).count() << " ms, "
              << report.partials << " partials kept, " << refetch.total << " bytes fetched again" << std::endl;
  }

  const auto held_before = held_chunks_of(daemon.cache_dir(), files, k_chunk);
  hub->clear_requests();
  daemon.start();
  for (const auto& file : files) {
    CAPTURE(file.repo);
    const auto pulled = request_within(daemon, "pull", {{"name", file.repo}}, std::chrono::seconds(300));
    REQUIRE_MESSAGE(pulled.result.has_value(), "the pull did not end within 300 s");
    REQUIRE_MESSAGE(*pulled.result, (*pulled.result ? "" : pulled.result->error().message));
    CHECK((**pulled.result)["files"][0]["sha256"] == file.sha256);
  }
  CHECK(measure_refetch(daemon.cache_dir(), files, held_before, hub->requests(), k_chunk).total == 0);
  CHECK(daemon.terminate() == 0);
  const auto report = check_cache(daemon.cache_dir(), CacheState::settled);
  CHECK_MESSAGE(report.ok(), report.describe());
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "SIGTERM campaign: " << rounds << " rounds, seed " << seed << ", " << seconds << " s\n  rerun: " << rerun
            << std::endl;
}

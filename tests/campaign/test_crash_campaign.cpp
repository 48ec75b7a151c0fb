// SIGKILL campaign: pulls of several repositories, the daemon killed at seeded random moments
// and restarted, until every pull completes. A repository whose pull completed is removed at the
// start of the next round, so that kills keep landing while downloads run. At the end the cache
// must be consistent, and no blob may have been published twice between removals. Each kill may
// cost at most two chunks per connection: the one in flight and the one whose completion
// (fdatasync and index write) had not returned.
#include "tests/campaign/cache_checker.hpp"
#include "tests/campaign/campaign_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
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
// Per file and kill: a chunk in flight and one completing on each connection.
constexpr std::uint64_t k_refetch_bound = 2 * k_connections * k_chunk;

// One file over 100 MiB and two smaller ones, none a multiple of the chunk size.
std::vector<RepoFile> make_repositories(const std::filesystem::path& root) {
  return {
    make_random_repo_file(root, "org/big", "model.safetensors", 104 * k_mib + 4321, 101),
    make_random_repo_file(root, "org/mid", "pytorch_model.bin", 24 * k_mib + 17, 102),
    make_random_repo_file(root, "org/small", "model.safetensors", 9 * k_mib + 5, 103),
  };
}

json campaign_config() {
  // A stall timeout far above any pause a loaded machine makes, so that no chunk is retried
  // for slowness and every wasted byte comes from a kill.
  return {{"download",
           {{"chunk_size", k_chunk},
            {"connections_per_file", k_connections},
            {"stall_timeout_s", 120},
            {"connect_timeout_s", 30}}}};
}

// Starts one pull per repository on its own thread; each ends when the pull does or the
// daemon dies.
std::vector<std::thread> start_pulls(const DaemonProcess& daemon, const std::vector<RepoFile>& files) {
  std::vector<std::thread> pulls;
  for (const auto& file : files) {
    pulls.emplace_back([socket = daemon.socket(), repo = file.repo] {
      auto connection = timmd::client::Connection::open(socket, "campaign");
      if (connection) {
        (void)connection->request("pull", {{"name", repo}});
      }
    });
  }
  return pulls;
}

bool is_cached(const std::filesystem::path& cache_dir, const RepoFile& file) {
  return std::filesystem::exists(cache_dir / "blobs" / "sha256" / file.sha256.substr(0, 2) / file.sha256);
}

std::string format_mib(std::uint64_t bytes) {
  std::ostringstream text;
  text.precision(2);
  text << std::fixed << static_cast<double>(bytes) / static_cast<double>(k_mib) << " MiB";
  return text.str();
}

} // namespace

TEST_CASE("crash campaign: SIGKILL during pulls") {
  const auto kills = campaign_size("TIMMD_CAMPAIGN_KILLS", 4, 40);
  const auto seed = campaign_seed();
  const auto rerun = "TIMMD_CAMPAIGN_SEED=" + std::to_string(seed) + " TIMMD_CAMPAIGN_KILLS=" + std::to_string(kills) +
                     " tests/campaign/test_campaign -tc='crash campaign*'";
  std::cout << "crash campaign: seed " << seed << ", " << kills << " kills; rerun with: " << rerun << std::endl;
  INFO("seed " << seed << "; rerun with: " << rerun);
  std::mt19937_64 random(seed);
  const auto started = std::chrono::steady_clock::now();

  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto files = make_repositories(scratch.path() / "hub");
  // 4 connections at 12 MiB/s each: the big file takes about 2 s when the machine is idle, so
  // kills in the first 2.5 s mostly land while transfers are in flight.
  auto hub = timmd::testing::start_hub(scratch.path() / "hub", "", 12 * k_mib);
  DaemonProcess daemon(scratch.path() / "daemon", DaemonOptions{hub->endpoint(), campaign_config()});

  std::vector<std::uint64_t> refetched_per_kill;
  std::size_t kills_with_refetch = 0;
  std::map<std::string, std::size_t> removals; // by repository
  std::size_t kills_during_downloads = 0;
  for (std::uint64_t kill = 0; kill < kills; ++kill) {
    CAPTURE(kill);
    daemon.start();
    for (const auto& file : files) {
      if (!is_cached(daemon.cache_dir(), file)) {
        continue;
      }
      const auto removed = request_within(daemon, "remove", {{"name", file.repo}}, std::chrono::seconds(60));
      REQUIRE(removed.result.has_value());
      REQUIRE_MESSAGE(*removed.result, (*removed.result ? "" : removed.result->error().message));
      ++removals[file.repo];
    }
    const auto held_before = held_chunks_of(daemon.cache_dir(), files, k_chunk);
    hub->clear_requests();
    auto pulls = start_pulls(daemon, files);
    const auto delay = std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 2500)(random));
    std::this_thread::sleep_for(delay);
    daemon.kill_hard();
    for (auto& pull : pulls) {
      pull.join();
    }
    if (std::ranges::any_of(files, [&](const RepoFile& file) { return !is_cached(daemon.cache_dir(), file); })) {
      ++kills_during_downloads;
    }

    const auto report = check_cache(daemon.cache_dir(), CacheState::after_crash);
    CHECK_MESSAGE(report.ok(), report.describe());
    const auto refetch = measure_refetch(daemon.cache_dir(), files, held_before, hub->requests(), k_chunk);
    for (const auto& [file, wasted] : refetch.wasted_bytes) {
      CAPTURE(file);
      CHECK(wasted <= k_refetch_bound);
    }
    kills_with_refetch += refetch.total > 0 ? 1 : 0;
    refetched_per_kill.push_back(refetch.total);
    std::cout << "  kill " << kill + 1 << " after " << delay.count() << " ms: " << format_mib(refetch.total)
              << " fetched again" << std::endl;
  }

  // The last run is not killed: every pull must complete, without fetching a byte twice.
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
  const auto final_refetch = measure_refetch(daemon.cache_dir(), files, held_before, hub->requests(), k_chunk);
  CHECK(final_refetch.total == 0);

  const auto socket = daemon.socket();
  CHECK(daemon.terminate() == 0);
  CHECK_FALSE(std::filesystem::exists(socket));
  const auto report = check_cache(daemon.cache_dir(), CacheState::settled);
  CHECK_MESSAGE(report.ok(), report.describe());
  CHECK(report.partials == 0);

  // Each blob was published once per download from scratch, whatever the kills interrupted.
  const auto log = daemon.log();
  std::size_t total_removals = 0;
  for (const auto& file : files) {
    CAPTURE(file.sha256);
    CHECK(count_occurrences(log, "stored blob " + file.sha256) <= removals[file.repo] + 1);
    total_removals += removals[file.repo];
    CHECK(file_sha256(daemon.cache_dir() / "blobs" / "sha256" / file.sha256.substr(0, 2) / file.sha256) ==
          file.sha256);
  }

  std::uint64_t total = 0;
  std::ostringstream per_kill;
  for (const auto bytes : refetched_per_kill) {
    total += bytes;
    per_kill << ' ' << format_mib(bytes);
  }
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "crash campaign: " << kills << " kills survived (" << kills_during_downloads
            << " during downloads, " << kills_with_refetch << " of them cost a refetch; " << total_removals
            << " completed repositories removed to download them again), fetched again per kill:" << per_kill.str() << " (total " << format_mib(total)
            << ", bound " << format_mib(k_refetch_bound) << " per file), seed " << seed << ", "
            << seconds << " s\n  rerun: " << rerun << std::endl;
}

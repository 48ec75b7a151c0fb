// Downloads interrupted by SIGKILL and SIGTERM, resumed by a new daemon on the same cache.
#include "tests/integration/daemon_fixture.hpp"

#include "daemon/store/index.hpp"

#include <doctest/doctest.h>

#include <charconv>
#include <csignal>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <thread>

using namespace timmd::testing;
using nlohmann::json;

namespace {

constexpr std::uint64_t k_chunk = 8ULL * 1024 * 1024;
constexpr std::uint64_t k_big_size = 120ULL * 1024 * 1024 + 4321;

// The first byte of "bytes=FIRST-LAST".
std::uint64_t range_start(const std::string& range) {
  std::uint64_t first = 0;
  const auto equals = range.find('=');
  if (equals != std::string::npos) {
    std::from_chars(range.data() + equals + 1, range.data() + range.size(), first);
  }
  return first;
}

std::set<std::size_t> completed_chunks(const std::filesystem::path& cache_dir, const std::string& key) {
  auto index = timmd::store::Index::open(cache_dir / "index.sqlite3");
  REQUIRE(index.has_value());
  auto download = (*index)->find_download(key);
  REQUIRE(download.has_value());
  std::set<std::size_t> done;
  if (*download) {
    for (std::size_t chunk = 0; chunk < (*download)->chunks_done.size(); ++chunk) {
      if ((*download)->chunks_done[chunk]) {
        done.insert(chunk);
      }
    }
  }
  return done;
}

json slow_download_config() {
  return {{"download", {{"chunk_size", k_chunk}, {"connections_per_file", 4}}}};
}

// A daemon pulling one large file from a throttled Hub on a thread of its own, so that a test
// can stop the daemon in the middle of the download.
struct RunningPull {
  RunningPull(unsigned seed, std::uint64_t throttle, int grace_seconds) {
    const auto big = scratch.path() / "src" / "big.bin";
    write_random_file(big, k_big_size, seed);
    sha = sha256_of(big);
    make_repo(scratch.path() / "hub", "org/big", {{"model.safetensors", big}});
    hub = start_hub(scratch.path() / "hub", "", throttle);

    auto config = slow_download_config();
    config["shutdown_grace_s"] = grace_seconds;
    daemon = std::make_unique<DaemonProcess>(scratch.path() / "daemon", DaemonOptions{hub->endpoint(), config});
    daemon->start();

    client = std::thread([this] {
      auto connection = daemon->connect();
      auto result = connection.request("pull", {{"name", "org/big"}});
      if (!result) {
        error = result.error();
      }
    });
  }

  ~RunningPull() {
    if (client.joinable()) {
      client.join();
    }
  }

  ScratchDir scratch;
  std::string sha;
  std::unique_ptr<timmd::testhub::Server> hub;
  std::unique_ptr<DaemonProcess> daemon;
  std::optional<timmd::proto::Error> error; // the pull's error, once `client` has ended
  std::thread client;
};

} // namespace

TEST_CASE("download killed with SIGKILL resumes from completed chunks") {
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto big = scratch.path() / "src" / "big.bin";
  write_random_file(big, k_big_size, 21);
  const auto sha = sha256_of(big);
  make_repo(scratch.path() / "hub", "org/big", {{"model.safetensors", big}});
  // 4 connections at 8 MiB/s each: the whole file takes about 4 s, so the kill lands mid-way.
  auto hub = start_hub(scratch.path() / "hub", "", 8 * 1024 * 1024);

  DaemonOptions options{hub->endpoint(), slow_download_config()};
  DaemonProcess daemon(scratch.path() / "daemon", options);
  daemon.start();

  std::thread client([&daemon] {
    auto connection = daemon.connect();
    (void)connection.request("pull", {{"name", "org/big"}});
  });
  std::set<std::size_t> done_before;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    done_before = completed_chunks(daemon.cache_dir(), sha);
    if (done_before.size() >= 4) {
      break;
    }
  }
  daemon.kill_hard();
  client.join();
  done_before = completed_chunks(daemon.cache_dir(), sha);
  REQUIRE(done_before.size() >= 4);
  const auto total_chunks = (k_big_size + k_chunk - 1) / k_chunk;
  REQUIRE(done_before.size() < total_chunks);
  CHECK(cached_blobs(daemon.cache_dir()).empty());

  hub->clear_requests();
  daemon.start();
  auto connection = daemon.connect();
  auto result = connection.request("pull", {{"name", "org/big"}});
  REQUIRE_MESSAGE(result, (result ? "" : result.error().message));
  CHECK((*result)["files"][0]["sha256"] == sha);
  CHECK(sha256_of(cached_blobs(daemon.cache_dir()).at(sha)) == sha);

  // After the restart no request touched a chunk that was recorded complete before the kill.
  std::size_t gets = 0;
  for (const auto& record : hub->requests()) {
    if (record.listener == "cdn" && record.method == "GET") {
      ++gets;
      CAPTURE(record.range);
      const auto chunk = range_start(record.range) / k_chunk;
      CHECK_FALSE(done_before.contains(chunk));
    }
  }
  CHECK(gets >= total_chunks - done_before.size());
  CHECK(daemon.log().find("chunks already complete") != std::string::npos);
}

TEST_CASE("SIGTERM mid-download keeps resumable partial") {
  RunningPull pull(22, 4 * 1024 * 1024, 1);
  INFO("scratch directory: " << pull.scratch.path());
  auto& daemon = *pull.daemon;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const auto started = std::chrono::steady_clock::now();
  CHECK(daemon.terminate() == 0);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  pull.client.join();
  CHECK(elapsed < std::chrono::seconds(6));

  // The pull in progress gets an error response, not a closed connection, and the message gives
  // the reason.
  REQUIRE(pull.error.has_value());
  CHECK(pull.error->code == timmd::proto::Errc::busy);
  CHECK_MESSAGE(pull.error->message.find("shutting down") != std::string::npos, pull.error->message);
  CHECK_MESSAGE(pull.error->message.find("model.safetensors") != std::string::npos, pull.error->message);
  CHECK_FALSE(std::filesystem::exists(daemon.socket()));
  CHECK(std::filesystem::exists(daemon.cache_dir() / "tmp" / (pull.sha + ".partial")));
  CHECK(daemon.log().find("timmd stopped") != std::string::npos);

  daemon.start();
  auto connection = daemon.connect();
  auto result = connection.request("pull", {{"name", "org/big"}});
  REQUIRE_MESSAGE(result, (result ? "" : result.error().message));
  CHECK((*result)["files"][0]["sha256"] == pull.sha);
}

TEST_CASE("second SIGTERM aborts downloads at once") {
  // A grace period far longer than the test: only the second signal can end the download.
  RunningPull pull(23, 1024 * 1024, 120);
  INFO("scratch directory: " << pull.scratch.path());
  auto& daemon = *pull.daemon;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  REQUIRE(::kill(daemon.pid(), SIGTERM) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));

  // While it stops, the daemon still accepts connections and rejects new requests with busy.
  auto late = daemon.connect().request("list", json::object());
  REQUIRE_FALSE(late.has_value());
  CHECK(late.error().code == timmd::proto::Errc::busy);
  CHECK_MESSAGE(late.error().message.find("shutting down") != std::string::npos, late.error().message);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));

  const auto started = std::chrono::steady_clock::now();
  CHECK(daemon.terminate() == 0);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  pull.client.join();
  CHECK(elapsed < std::chrono::seconds(10));
  REQUIRE(pull.error.has_value());
  CHECK(pull.error->code == timmd::proto::Errc::busy);

  // Aborted chunks end the download: none is requested again after the second signal.
  const auto log = daemon.log();
  const auto aborted_at = log.find("stopping downloads now");
  REQUIRE(aborted_at != std::string::npos);
  CHECK_MESSAGE(log.find("retrying", aborted_at) == std::string::npos, log.substr(aborted_at));
}

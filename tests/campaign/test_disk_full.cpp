// A cache on a small tmpfs that fills up during a download: the pull fails with disk_full
// naming the file, nothing unverified is published, cached models are still served, and the
// pull succeeds once space is freed.
#include "tests/campaign/cache_checker.hpp"
#include "tests/campaign/campaign_support.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <thread>

#include <sys/mount.h>
#include <unistd.h>

using namespace timmd::campaign;
using timmd::proto::Errc;
using timmd::testing::DaemonOptions;
using timmd::testing::DaemonProcess;
using timmd::testing::ScratchDir;
using nlohmann::json;

namespace {

constexpr std::uint64_t k_mib = 1024 * 1024;

// A tmpfs mounted for the life of the object, detached on destruction.
class TmpfsMount {
public:
  TmpfsMount(std::filesystem::path where, std::uint64_t bytes) : m_where(std::move(where)) {
    std::filesystem::create_directories(m_where);
    const auto options = "size=" + std::to_string(bytes) + ",mode=0755";
    if (::mount("tmpfs", m_where.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      throw std::runtime_error("mounting a tmpfs on " + m_where.string() + " failed: " + std::strerror(errno));
    }
  }
  ~TmpfsMount() { ::umount2(m_where.c_str(), MNT_DETACH); }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

private:
  std::filesystem::path m_where;
};

// Writes zeros to `path` until the filesystem has at most `keep_free` bytes left; returns the
// bytes written.
std::uint64_t fill_filesystem(const std::filesystem::path& path, std::uint64_t keep_free) {
  std::ofstream out(path, std::ios::binary);
  const std::vector<char> block(64 * 1024, 0);
  std::uint64_t written = 0;
  while (std::filesystem::space(path.parent_path()).available > keep_free + block.size()) {
    if (!out.write(block.data(), static_cast<std::streamsize>(block.size())) || !out.flush()) {
      break;
    }
    written += block.size();
  }
  if (keep_free == 0) {
    while (out.write(block.data(), 1) && out.flush()) {
      ++written;
    }
  }
  return written;
}

} // namespace

TEST_CASE("disk full during a download") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: this test mounts a tmpfs for the cache, which needs root");
    return;
  }
  const auto started = std::chrono::steady_clock::now();
  ScratchDir scratch;
  INFO("scratch directory: " << scratch.path());
  const auto root = scratch.path() / "hub";
  timmd::testing::make_repo(root, "timm/test_vit.r160_in1k",
                            {{"model.safetensors", timmd::testing::data_dir() / "timm" / "demo-repo" / "timm" /
                                                     "test_vit.r160_in1k" / "model.safetensors"},
                             {"config.json", timmd::testing::data_dir() / "timm" / "demo-repo" / "timm" /
                                               "test_vit.r160_in1k" / "config.json"}});
  const auto first = make_random_repo_file(root, "org/first", "model.safetensors", 12 * k_mib + 11, 401);
  const auto second = make_random_repo_file(root, "org/second", "pytorch_model.bin", 12 * k_mib + 13, 402);
  // 2 MiB/s per connection, so the first download is still running when the disk fills.
  auto hub = timmd::testing::start_hub(root, "", 2 * k_mib);

  const auto daemon_dir = scratch.path() / "daemon";
  TmpfsMount mount(daemon_dir / "cache", 32 * k_mib);
  // No free-space floor, so that the disk fills during the download instead of before it.
  const json config = {{"min_free_bytes", 0},
                       {"download", {{"chunk_size", k_mib}, {"connections_per_file", 2}, {"stall_timeout_s", 60}}}};
  DaemonProcess daemon(daemon_dir, DaemonOptions{hub->endpoint(), config});
  daemon.start();

  const auto cached = request_within(daemon, "pull", {{"name", "timm/test_vit.r160_in1k"}}, std::chrono::seconds(120));
  REQUIRE(cached.result.has_value());
  REQUIRE_MESSAGE(*cached.result, (*cached.result ? "" : cached.result->error().message));

  // Fill the disk while the first file downloads. Its partial was preallocated, but recording a
  // completed chunk needs room in the index, so it may fail; it must fail with disk_full.
  auto in_flight = std::async(std::launch::async, [&daemon, &first] {
    return request_within(daemon, "pull", {{"name", first.repo}}, std::chrono::seconds(300));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const auto filler = daemon.cache_dir() / "filler";
  const auto filled = fill_filesystem(filler, 0);
  const auto first_result = in_flight.get();
  REQUIRE(first_result.result.has_value());
  const auto& first_pull = *first_result.result;
  std::cout << "disk full: filled " << filled / k_mib << " MiB during the download; the download in flight "
            << (first_pull ? "completed" : "failed: " + first_pull.error().message) << std::endl;
  if (!first_pull) {
    CHECK(first_pull.error().code == Errc::disk_full);
    CHECK_MESSAGE(first_pull.error().message.find("'" + first.path + "' of " + first.repo) != std::string::npos,
                  first_pull.error().message);
  }
  auto report = check_cache(daemon.cache_dir(), CacheState::settled);
  CHECK_MESSAGE(report.ok(), report.describe());

  // The daemon keeps serving what is cached, with not a byte free.
  const auto listed = request_within(daemon, "list", json::object(), std::chrono::seconds(60));
  REQUIRE(listed.result.has_value());
  CHECK_MESSAGE(*listed.result, (*listed.result ? "" : listed.result->error().message));
  const auto opened = request_within(daemon, "open", {{"name", "timm/test_vit.r160_in1k"}}, std::chrono::seconds(60));
  REQUIRE(opened.result.has_value());
  CHECK_MESSAGE(*opened.result, (*opened.result ? "" : opened.result->error().message));

  // With room for the index but not for the file, a new pull fails naming the file and
  // publishes nothing.
  std::filesystem::remove(filler);
  fill_filesystem(filler, 2 * k_mib);
  const auto refused = request_within(daemon, "pull", {{"name", second.repo}}, std::chrono::seconds(120));
  REQUIRE(refused.result.has_value());
  REQUIRE_FALSE(*refused.result);
  const auto& error = refused.result->error();
  CHECK(error.code == Errc::disk_full);
  CHECK_MESSAGE(error.message.find("pytorch_model.bin") != std::string::npos, error.message);
  CHECK_FALSE(std::filesystem::exists(daemon.cache_dir() / "blobs" / "sha256" / second.sha256.substr(0, 2) /
                                      second.sha256));
  report = check_cache(daemon.cache_dir(), CacheState::settled);
  CHECK_MESSAGE(report.ok(), report.describe());

  // Space freed: both pulls complete.
  std::filesystem::remove(filler);
  for (const auto* file : {&first, &second}) {
    CAPTURE(file->repo);
    const auto pulled = request_within(daemon, "pull", {{"name", file->repo}}, std::chrono::seconds(300));
    REQUIRE(pulled.result.has_value());
    REQUIRE_MESSAGE(*pulled.result, (*pulled.result ? "" : pulled.result->error().message));
    CHECK((**pulled.result)["files"][0]["sha256"] == file->sha256);
  }
  CHECK(daemon.terminate() == 0);
  report = check_cache(daemon.cache_dir(), CacheState::settled);
  CHECK_MESSAGE(report.ok(), report.describe());
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "disk full campaign: " << seconds << " s" << std::endl;
}

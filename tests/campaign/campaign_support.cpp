#include "tests/campaign/campaign_support.hpp"

#include "tests/campaign/cache_checker.hpp"

#include <charconv>
#include <cstdlib>
#include <future>
#include <random>
#include <stdexcept>

namespace timmd::campaign {

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') {
    return fallback;
  }
  std::uint64_t value = 0;
  const std::string_view view(text);
  const auto [end, error] = std::from_chars(view.data(), view.data() + view.size(), value);
  if (error != std::errc() || end != view.data() + view.size()) {
    throw std::invalid_argument(std::string(name) + "='" + text + "' is not a non-negative integer");
  }
  return value;
}

std::uint64_t campaign_size(const char* name, std::uint64_t short_default, std::uint64_t long_default) {
  const char* profile = std::getenv("TIMMD_CAMPAIGN_PROFILE");
  const bool long_run = profile != nullptr && std::string_view(profile) == "long";
  return env_number(name, long_run ? long_default : short_default);
}

std::uint64_t campaign_seed() {
  std::random_device entropy;
  const auto fresh = (static_cast<std::uint64_t>(entropy()) << 32) | entropy();
  return env_number("TIMMD_CAMPAIGN_SEED", fresh);
}

TimedRequest request_within(testing::DaemonProcess& daemon, const std::string& op, nlohmann::json params,
                            std::chrono::seconds deadline) {
  const auto started = std::chrono::steady_clock::now();
  auto pending = std::async(std::launch::async, [&daemon, op, params = std::move(params)]() mutable {
    auto connection = client::Connection::open(daemon.socket(), "campaign");
    if (!connection) {
      return proto::Result<nlohmann::json>(connection.error());
    }
    return connection->request(op, std::move(params));
  });
  TimedRequest timed;
  if (pending.wait_for(deadline) == std::future_status::ready) {
    timed.result = pending.get();
  } else {
    // A hung request: killing the daemon closes the socket, which ends the request, so the
    // future's destructor does not block for ever.
    daemon.kill_hard();
    pending.wait();
  }
  timed.elapsed =
    std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  return timed;
}

std::uint64_t served_bytes(const std::vector<testhub::RequestRecord>& records, const std::string& suffix) {
  std::uint64_t total = 0;
  for (const auto& record : records) {
    if (record.method == "GET" && record.path.ends_with(suffix)) {
      total += record.body_bytes;
    }
  }
  return total;
}

std::uint64_t bytes_in_chunks(const std::vector<bool>& chunks, std::uint64_t size, std::uint64_t chunk_size) {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (chunks[i]) {
      const auto begin = i * chunk_size;
      total += std::min(size, begin + chunk_size) - begin;
    }
  }
  return total;
}

RepoFile make_random_repo_file(const std::filesystem::path& root, const std::string& repo, const std::string& path,
                               std::uint64_t size, unsigned seed) {
  const auto file = root / repo / path;
  testing::write_random_file(file, size, seed);
  return RepoFile{repo, path, size, file_sha256(file)};
}

std::size_t count_occurrences(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

} // namespace timmd::campaign

namespace timmd::campaign {

std::vector<bool> held_chunks(const std::filesystem::path& cache_dir, const RepoFile& file, std::uint64_t chunk_size) {
  const auto count = (file.size + chunk_size - 1) / chunk_size;
  if (std::filesystem::exists(cache_dir / "blobs" / "sha256" / file.sha256.substr(0, 2) / file.sha256)) {
    return std::vector<bool>(count, true);
  }
  if (!std::filesystem::exists(cache_dir / "index.sqlite3")) {
    return std::vector<bool>(count, false);
  }
  auto recorded = recorded_chunks(cache_dir, file.sha256);
  if (!recorded || recorded->size() != count) {
    return std::vector<bool>(count, false);
  }
  return *recorded;
}

std::map<std::string, std::vector<bool>> held_chunks_of(const std::filesystem::path& cache_dir,
                                                        const std::vector<RepoFile>& files, std::uint64_t chunk_size) {
  std::map<std::string, std::vector<bool>> held;
  for (const auto& file : files) {
    held[file.sha256] = held_chunks(cache_dir, file, chunk_size);
  }
  return held;
}

RefetchFigures measure_refetch(const std::filesystem::path& cache_dir, const std::vector<RepoFile>& files,
                               const std::map<std::string, std::vector<bool>>& held_before,
                               const std::vector<testhub::RequestRecord>& records, std::uint64_t chunk_size) {
  RefetchFigures figures;
  for (const auto& file : files) {
    const auto& before = held_before.at(file.sha256);
    auto gained = held_chunks(cache_dir, file, chunk_size);
    for (std::size_t i = 0; i < gained.size(); ++i) {
      gained[i] = gained[i] && !before[i];
    }
    const auto needed = bytes_in_chunks(gained, file.size, chunk_size);
    const auto served = served_bytes(records, "/blobs/" + file.sha256);
    // A chunk reset after a failure would make `needed` exceed what this run served. No fault
    // is injected here, and the checks on the final blob would catch such a loss.
    const auto wasted = served > needed ? served - needed : 0;
    if (wasted > 0) {
      figures.wasted_bytes[file.repo + "/" + file.path] = wasted;
      figures.total += wasted;
    }
  }
  return figures;
}

} // namespace timmd::campaign

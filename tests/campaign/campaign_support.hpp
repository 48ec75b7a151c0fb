// Shared pieces of the fault campaigns: seeds and iteration counts from the environment,
// requests with a deadline, and byte accounting from the test Hub's request log.
#pragma once

#include "tests/integration/daemon_fixture.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace timmd::campaign {

// The value of the integer environment variable `name`, or `fallback` when it is unset.
// Throws std::invalid_argument naming the variable when it is not a non-negative integer.
std::uint64_t env_number(const char* name, std::uint64_t fallback);

// env_number(name, ...) with the short default, or the long one when TIMMD_CAMPAIGN_PROFILE is
// "long" (the campaign-long CTest entries set it).
std::uint64_t campaign_size(const char* name, std::uint64_t short_default, std::uint64_t long_default);

// TIMMD_CAMPAIGN_SEED when set, else a fresh random seed. Either way the caller prints it.
std::uint64_t campaign_seed();

// Sends one request on a fresh connection and waits at most `deadline` for its final frame.
// When the deadline passes, the daemon is killed (which ends the request) and `result` is empty.
struct TimedRequest {
  std::optional<proto::Result<nlohmann::json>> result;
  std::chrono::milliseconds elapsed{0};
};
TimedRequest request_within(testing::DaemonProcess& daemon, const std::string& op, nlohmann::json params,
                            std::chrono::seconds deadline);

// Body bytes that the Hub served to GET requests whose decoded path ends with `suffix`.
std::uint64_t served_bytes(const std::vector<testhub::RequestRecord>& records, const std::string& suffix);

// The number of bytes in the chunks marked true, for a file of `size` in chunks of `chunk_size`.
std::uint64_t bytes_in_chunks(const std::vector<bool>& chunks, std::uint64_t size, std::uint64_t chunk_size);

// A repository file the campaigns pull: its path in the repository and the Hub's CDN path
// (`/blobs/<sha256>` for LFS files), its size and SHA-256.
struct RepoFile {
  std::string repo;
  std::string path;
  std::uint64_t size = 0;
  std::string sha256;
};

// Writes `size` seeded pseudo-random bytes as ROOT/REPO/PATH and describes the file.
RepoFile make_random_repo_file(const std::filesystem::path& root, const std::string& repo, const std::string& path,
                               std::uint64_t size, unsigned seed);

// How often `needle` occurs in `text`.
std::size_t count_occurrences(const std::string& text, const std::string& needle);

} // namespace timmd::campaign

namespace timmd::campaign {

// The chunks of `file` that the cache holds: all of them once its blob file exists, else the
// ones its download row records complete.
std::vector<bool> held_chunks(const std::filesystem::path& cache_dir, const RepoFile& file, std::uint64_t chunk_size);

// What one daemon run fetched beyond the chunks it completed, per file, from the chunks held
// before and after the run and the Hub's log of that run.
struct RefetchFigures {
  std::map<std::string, std::uint64_t> wasted_bytes; // per repository file with any wasted byte
  std::uint64_t total = 0;
};
RefetchFigures measure_refetch(const std::filesystem::path& cache_dir, const std::vector<RepoFile>& files,
                               const std::map<std::string, std::vector<bool>>& held_before,
                               const std::vector<testhub::RequestRecord>& records, std::uint64_t chunk_size);

// held_chunks() of every file, keyed by SHA-256.
std::map<std::string, std::vector<bool>> held_chunks_of(const std::filesystem::path& cache_dir,
                                                        const std::vector<RepoFile>& files, std::uint64_t chunk_size);

} // namespace timmd::campaign

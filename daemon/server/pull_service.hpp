// Pulls a repository revision into the cache: resolves the revision to a commit, lists its
// files, and downloads what the cache lacks, once per blob however many clients ask.
//
// Thread safety: use on the I/O executor thread only; blocking store work is offloaded to the
// worker pool inside.
#pragma once

#include "daemon/hub/connection_limits.hpp"
#include "daemon/hub/hub_client.hpp"
#include "daemon/server/config.hpp"
#include "daemon/server/lease_table.hpp"
#include "daemon/server/single_flight.hpp"
#include "daemon/server/space_policy.hpp"
#include "daemon/store/blob_store.hpp"
#include "daemon/store/cache_layout.hpp"
#include "daemon/store/index.hpp"
#include "proto/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

namespace timmd::server {

struct PullRequest {
  std::string repo;
  std::string revision = "main";
  bool all_files = false;       // every file of the repository instead of weights + config.json
  std::string preferred_file;   // weights file named by the registry; empty: the usual order
  // When not empty, exactly these files of the commit are fetched (`verify --repair` uses it);
  // all_files and preferred_file are ignored, and a path the commit lacks is `not_found`.
  std::vector<std::string> paths;
  std::uint32_t client_pid = 0; // for logs
  // A branch or tag whose commit the index recorded less than this long ago is used without
  // asking the Hub again (`open` sets it; 0 always asks, as `pull` does).
  std::chrono::seconds ref_max_age{0};
  // Set when the client may not download: a file the cache lacks fails with this error
  // (permission_denied) instead of being fetched.
  std::optional<proto::Error> download_denied;
};

// Progress of one blob's download, shared by every pull that waits for it.
struct TransferProgress {
  std::uint64_t size = 0;
  std::uint64_t done = 0;
  std::string state = "starting"; // starting, downloading, verifying
};

struct FileStatus {
  std::string path;
  std::uint64_t size = 0;
  std::string state = "queued"; // queued, cached, downloading, verifying, done, failed
  std::shared_ptr<const TransferProgress> transfer;
};

// Filled in by pull() as it goes; a session reads it to send progress events.
struct PullProgress {
  std::string commit;
  std::vector<FileStatus> files;
};

struct PulledFile {
  std::string path;
  std::uint64_t size = 0;
  std::string sha256;
  std::string etag;
  bool was_cached = false;
  std::string blob_path; // the verified file in the cache, read-only
};

struct PullResult {
  std::string repo;
  std::string revision;
  std::string commit;
  bool revision_from_cache = false; // offline: the commit recorded for the revision earlier
  std::vector<PulledFile> files;
  // Keep gc and `remove` off the pulled blobs until the caller has read them; destroying the
  // result releases them.
  std::vector<Lease> leases;
};

class PullService {
public:
  // A revision resolved to a commit, with the commit's file list.
  struct Snapshot {
    std::string commit;
    // True when the commit is the one recorded earlier for the revision, because the daemon is
    // offline or the Hub could not be reached.
    bool from_cache = false;
    std::vector<store::FileRecord> files;
  };

  // REQUIRES: every reference outlives the service.
  PullService(boost::asio::any_io_executor io, boost::asio::any_io_executor blocking, const Config& config,
              store::Index& index, const store::CacheLayout& layout, const store::BlobStore& blobs,
              hub::HubClient& hub, LeaseTable& leases);

  boost::asio::awaitable<proto::Result<PullResult>> pull(PullRequest request, std::shared_ptr<PullProgress> progress);

  // Resolves `revision` (empty: main) of `repo` to a commit and lists its files as pull() does,
  // recording both in the index, and downloads nothing. A commit hash the index already lists
  // needs no Hub request. Offline, or when the Hub cannot be reached, returns the commit
  // recorded for the revision with from_cache set. With none recorded, offline is an
  // `upstream_unavailable` error naming the revision, and online the Hub's error.
  boost::asio::awaitable<proto::Result<Snapshot>> resolve_remote(std::string repo, std::string revision);

  std::size_t active_downloads() const noexcept { return m_downloads.size(); }
  // The client pids of the pulls of `repo` running now; `remove` refuses to run during them.
  std::vector<std::uint32_t> pulls_of(const std::string& repo) const;

  // Aborts every HTTP transfer (shutdown); waiting pulls end with an error.
  void abort_transfers();

private:
  boost::asio::awaitable<proto::Result<Snapshot>> snapshot(const PullRequest& request);
  boost::asio::awaitable<proto::Result<Snapshot>> fetch_snapshot(PullRequest request);
  // The recorded snapshot of a revision fetched within request.ref_max_age; nullopt otherwise.
  proto::Result<std::optional<Snapshot>> recent_snapshot(const PullRequest& request);
  // Leases the file's blob into `leases` before it looks for it, so that no gc or `remove`
  // takes the blob between the look-up or download and the caller's read.
  boost::asio::awaitable<proto::Result<PulledFile>> ensure_file(const PullRequest& request, const std::string& commit,
                                                                store::FileRecord file, FileStatus& status,
                                                                std::vector<Lease>& leases);
  boost::asio::awaitable<proto::Result<store::BlobRecord>> download_blob(std::string repo, std::string commit,
                                                                         store::FileRecord file);
  proto::Result<std::optional<store::BlobRecord>> cached_blob(const store::FileRecord& file);
  // Makes room in the cache for the part of `file` not yet allocated by an earlier partial.
  proto::Result<void> make_room(const std::string& repo, const std::string& commit, const store::FileRecord& file);

  boost::asio::any_io_executor m_io;
  boost::asio::any_io_executor m_blocking;
  const Config& m_config;
  store::Index& m_index;
  const store::CacheLayout& m_layout;
  const store::BlobStore& m_blobs;
  hub::HubClient& m_hub;
  LeaseTable& m_leases;
  SpacePolicy m_space;
  hub::ConnectionLimits m_limits;
  SingleFlight<proto::Result<Snapshot>> m_snapshots;
  SingleFlight<proto::Result<store::BlobRecord>> m_downloads;
  std::map<std::string, std::shared_ptr<TransferProgress>> m_transfers; // by etag
  std::multimap<std::string, std::uint32_t> m_pulling;                   // repo -> client pid
};

} // namespace timmd::server

#include "daemon/server/pull_service.hpp"

#include "daemon/hub/file_download.hpp"
#include "daemon/hub/hub_url.hpp"
#include "daemon/server/chunk_size.hpp"
#include "daemon/server/partial_download_sink.hpp"
#include "daemon/server/pull_selection.hpp"
#include "daemon/store/partial_download.hpp"
#include "daemon/util/offload.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>

#include <sys/stat.h>

namespace asio = boost::asio;

namespace timmd::server {
namespace {

using proto::Errc;

bool is_commit_hash(std::string_view text) {
  return text.size() == 40 &&
         std::ranges::all_of(text, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::int64_t unix_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

std::string short_hash(const std::string& hash) {
  return hash.substr(0, 12);
}

// The files of one pull, fetched by a few runners in parallel.
struct FileJobs {
  explicit FileJobs(asio::any_io_executor executor) : done(executor) {
    done.expires_at(asio::steady_timer::time_point::max());
  }

  PullRequest request;
  std::string commit;
  std::vector<store::FileRecord> files;
  std::vector<std::optional<proto::Result<PulledFile>>> results;
  std::vector<Lease> leases;
  std::size_t next = 0;
  int running = 0;
  asio::steady_timer done;
};

} // namespace

PullService::PullService(asio::any_io_executor io, asio::any_io_executor blocking, const Config& config,
                         store::Index& index, const store::CacheLayout& layout, const store::BlobStore& blobs,
                         hub::HubClient& hub, LeaseTable& leases)
    : m_io(io), m_blocking(std::move(blocking)), m_config(config), m_index(index), m_layout(layout), m_blobs(blobs),
      m_hub(hub), m_leases(leases), m_space(config, index, layout, blobs, leases),
      m_limits(io, config.download.max_connections, config.download.max_connections_per_host), m_snapshots(io),
      m_downloads(io) {}

void PullService::abort_transfers() {
  m_hub.multi().abort_all();
}

std::vector<std::uint32_t> PullService::pulls_of(const std::string& repo) const {
  std::vector<std::uint32_t> pids;
  const auto [first, last] = m_pulling.equal_range(repo);
  for (auto it = first; it != last; ++it) {
    pids.push_back(it->second);
  }
  return pids;
}

asio::awaitable<proto::Result<PullResult>> PullService::pull(PullRequest request,
                                                             std::shared_ptr<PullProgress> progress) {
  if (request.revision.empty()) {
    request.revision = "main";
  }
  struct Pulling {
    std::multimap<std::string, std::uint32_t>& pulling;
    std::multimap<std::string, std::uint32_t>::iterator entry;
    ~Pulling() { pulling.erase(entry); }
  } pulling{m_pulling, m_pulling.emplace(request.repo, request.client_pid)};

  auto snap = co_await snapshot(request);
  if (!snap) {
    co_return snap.error();
  }
  progress->commit = snap->commit;

  std::vector<std::string> paths;
  for (const auto& file : snap->files) {
    paths.push_back(file.path);
  }
  auto selection = select_pull_files(paths, request.all_files, request.preferred_file);
  if (!request.paths.empty()) {
    for (const auto& path : request.paths) {
      if (std::ranges::find(paths, path) == paths.end()) {
        co_return proto::make_error(Errc::not_found,
                                    "repository '" + request.repo + "' at commit " + snap->commit + " has no file '" +
                                        path + "'",
                                    {{"repo", request.repo}, {"commit", snap->commit}, {"path", path}});
      }
    }
    selection = PullSelection{request.paths, request.paths.front(), false};
  }
  if (!request.all_files && request.paths.empty() && selection.preferred_file_missing) {
    spdlog::warn("{} at {} has no file '{}' named by the registry; using the usual weights file", request.repo,
                 snap->commit, request.preferred_file);
  }
  if (!request.all_files && request.paths.empty() && selection.weights_file.empty()) {
    co_return proto::make_error(
        Errc::not_found,
        "repository '" + request.repo + "' at commit " + snap->commit +
            " has no weights file (model.safetensors, pytorch_model.bin, "
            "open_clip_pytorch_model.bin or a single .npz); pull with --all to fetch every file",
        {{"repo", request.repo}, {"commit", snap->commit}});
  }

  auto jobs = std::make_shared<FileJobs>(m_io);
  jobs->request = request;
  jobs->commit = snap->commit;
  for (const auto& path : selection.paths) {
    const auto it = std::ranges::find(snap->files, path, &store::FileRecord::path);
    jobs->files.push_back(*it);
    progress->files.push_back(FileStatus{path, it->size, "queued", nullptr});
  }
  jobs->results.resize(jobs->files.size());

  const auto runners =
      std::min<std::size_t>(static_cast<std::size_t>(m_config.download.max_parallel_files), jobs->files.size());
  for (std::size_t i = 0; i < runners; ++i) {
    ++jobs->running;
    asio::co_spawn(
        m_io,
        [this, jobs, progress]() -> asio::awaitable<void> {
          while (jobs->next < jobs->files.size()) {
            const auto index = jobs->next++;
            jobs->results[index] =
                co_await ensure_file(jobs->request, jobs->commit, jobs->files[index], progress->files[index], jobs->leases);
          }
        },
        [jobs](std::exception_ptr error) {
          if (error) {
            spdlog::error("pull of {} ended with an unexpected exception", jobs->request.repo);
          }
          if (--jobs->running == 0) {
            jobs->done.cancel();
          }
        });
  }
  while (jobs->running > 0) {
    co_await jobs->done.async_wait(asio::as_tuple(asio::use_awaitable));
    const auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) {
      throw boost::system::system_error(asio::error::operation_aborted);
    }
  }

  PullResult result{request.repo, request.revision, snap->commit, snap->from_cache, {}, std::move(jobs->leases)};
  for (auto& file : jobs->results) {
    if (!file || !*file) {
      co_return file ? file->error() : proto::make_error(Errc::internal, "a file of the pull was not processed");
    }
    result.files.push_back(**file);
  }
  co_return result;
}

asio::awaitable<proto::Result<PullService::Snapshot>> PullService::resolve_remote(std::string repo,
                                                                                  std::string revision) {
  PullRequest request;
  request.repo = std::move(repo);
  request.revision = revision.empty() ? "main" : std::move(revision);
  co_return co_await snapshot(request);
}

asio::awaitable<proto::Result<PullService::Snapshot>> PullService::snapshot(const PullRequest& request) {
  if (is_commit_hash(request.revision)) {
    auto files = m_index.files_at(request.repo, request.revision);
    if (!files) {
      co_return files.error();
    }
    if (*files) {
      co_return Snapshot{request.revision, false, std::move(**files)};
    }
  }

  if (m_config.offline) {
    auto ref = m_index.find_ref(request.repo, request.revision);
    if (!ref) {
      co_return ref.error();
    }
    auto files = *ref ? m_index.files_at(request.repo, (*ref)->commit)
                      : proto::Result<std::optional<std::vector<store::FileRecord>>>(std::nullopt);
    if (!files) {
      co_return files.error();
    }
    if (!*ref || !*files) {
      co_return proto::make_error(Errc::upstream_unavailable,
                                  "the daemon is offline and has no commit recorded for revision '" + request.revision +
                                      "' of '" + request.repo +
                                      "'; pull it once while online, or restart timmd without --offline and HF_HUB_OFFLINE",
                                  {{"repo", request.repo}, {"revision", request.revision}});
    }
    co_return Snapshot{(*ref)->commit, true, std::move(**files)};
  }

  if (request.download_denied) {
    // A client that may not download may still refresh a revision recorded in the index, but
    // must not make the daemon look up one it has never fetched.
    auto known = m_index.find_ref(request.repo, request.revision);
    if (!known) {
      co_return known.error();
    }
    if (!*known) {
      co_return *request.download_denied;
    }
  }

  if (request.ref_max_age.count() > 0) {
    auto fresh = recent_snapshot(request);
    if (!fresh) {
      co_return fresh.error();
    }
    if (*fresh) {
      co_return std::move(**fresh);
    }
  }

  // Named locals: GCC 12 destroys some class temporaries of a co_await expression twice.
  const std::string key = request.repo + "@" + request.revision;
  std::function<asio::awaitable<proto::Result<Snapshot>>()> work = [this, request] { return fetch_snapshot(request); };
  co_return co_await m_snapshots.run(key, std::move(work));
}

proto::Result<std::optional<PullService::Snapshot>> PullService::recent_snapshot(const PullRequest& request) {
  auto ref = m_index.find_ref(request.repo, request.revision);
  if (!ref) {
    return ref.error();
  }
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  if (!*ref || now - (*ref)->fetched_at > request.ref_max_age.count()) {
    return std::optional<Snapshot>();
  }
  auto files = m_index.files_at(request.repo, (*ref)->commit);
  if (!files) {
    return files.error();
  }
  if (!*files) {
    return std::optional<Snapshot>();
  }
  return std::optional<Snapshot>(Snapshot{(*ref)->commit, false, std::move(**files)});
}

asio::awaitable<proto::Result<PullService::Snapshot>> PullService::fetch_snapshot(PullRequest request) {
  auto commit = co_await m_hub.resolve_commit(request.repo, request.revision);
  if (!commit) {
    const auto code = commit.error().code;
    if (code == Errc::upstream_unavailable || code == Errc::timeout) {
      // The Hub is unreachable: fall back to what an earlier pull recorded for this revision.
      auto ref = m_index.find_ref(request.repo, request.revision);
      if (ref && *ref) {
        auto files = m_index.files_at(request.repo, (*ref)->commit);
        if (files && *files) {
          spdlog::warn("using the recorded commit {} for {}@{} because the Hub is unreachable: {}", (*ref)->commit,
                       request.repo, request.revision, commit.error().message);
          co_return Snapshot{(*ref)->commit, true, std::move(**files)};
        }
      }
    }
    co_return commit.error();
  }

  auto known = m_index.files_at(request.repo, *commit);
  if (!known) {
    co_return known.error();
  }
  std::vector<store::FileRecord> records;
  if (*known) {
    records = std::move(**known);
  } else {
    auto listed = co_await m_hub.list_files(request.repo, *commit);
    if (!listed) {
      co_return listed.error();
    }
    for (const auto& file : *listed) {
      records.push_back(store::FileRecord{file.path, file.size, file.etag(), file.is_lfs(), ""});
    }
  }

  auto record = [this, &request, &commit, &records, listed_now = !*known] {
    if (listed_now) {
      if (auto r = m_index.record_files(request.repo, *commit, records); !r) {
        return r;
      }
    }
    if (request.revision != *commit) {
      return m_index.record_ref(store::RefRecord{request.repo, request.revision, *commit, unix_now()});
    }
    return proto::Result<void>{};
  };
  auto recorded = co_await util::offload(m_blocking, std::move(record));
  if (!recorded) {
    co_return recorded.error();
  }
  spdlog::info("resolved {}@{} to commit {} ({} files)", request.repo, request.revision, *commit, records.size());
  co_return Snapshot{*commit, false, std::move(records)};
}

proto::Result<std::optional<store::BlobRecord>> PullService::cached_blob(const store::FileRecord& file) {
  auto found = !file.blob_sha256.empty() ? m_index.find_blob(file.blob_sha256)
               : file.is_lfs             ? m_index.find_blob(file.etag)
                                         : m_index.find_blob_by_git_oid(file.etag);
  if (!found) {
    return found.error();
  }
  if (*found && !m_blobs.contains((*found)->sha256)) {
    spdlog::warn("blob {} is in the index but its file is missing; fetching it again", (*found)->sha256);
    return std::optional<store::BlobRecord>();
  }
  return found;
}

proto::Result<void> PullService::make_room(const std::string& repo, const std::string& commit,
                                           const store::FileRecord& file) {
  // A partial of the same plan already holds its blocks (preallocated); a new one needs them all.
  SpaceRequest request;
  request.incoming = file.size;
  struct stat partial {};
  if (::stat(m_layout.partial_path(file.etag).c_str(), &partial) == 0) {
    const auto allocated = static_cast<std::uint64_t>(partial.st_blocks) * 512;
    request.incoming -= std::min(request.incoming, allocated);
  }
  if (request.incoming == 0) {
    return {};
  }
  request.what = repo + "/" + file.path + " (blob " + short_hash(file.etag) + ")";

  // The files this pull already has must survive the room made for the rest.
  auto siblings = m_index.files_at(repo, commit);
  if (!siblings) {
    return siblings.error();
  }
  for (const auto& sibling : siblings->value_or(std::vector<store::FileRecord>{})) {
    if (!sibling.blob_sha256.empty()) {
      request.keep.insert(sibling.blob_sha256);
    }
  }
  return m_space.make_room(request);
}

asio::awaitable<proto::Result<PulledFile>> PullService::ensure_file(const PullRequest& request,
                                                                    const std::string& commit, store::FileRecord file,
                                                                    FileStatus& status, std::vector<Lease>& leases) {
  // The etag names the blob before its SHA-256 is known: it is the SHA-256 of an LFS file and
  // the git object id of any other, and gc and `remove` honour a lease by either name. Taking
  // it before the look-up, on this thread, leaves them no moment to take the blob.
  leases.push_back(m_leases.acquire(file.etag));
  auto cached = cached_blob(file);
  if (!cached) {
    co_return cached.error();
  }

  store::BlobRecord blob;
  bool was_cached = false;
  if (*cached) {
    blob = **cached;
    was_cached = true;
    status.state = "cached";
  } else if (request.download_denied) {
    status.state = "failed";
    co_return *request.download_denied;
  } else if (m_config.offline) {
    status.state = "failed";
    co_return proto::make_error(Errc::upstream_unavailable,
                                "the daemon is offline and '" + file.path + "' of '" + request.repo + "' at " + commit +
                                    " is not in the cache; restart timmd without --offline and HF_HUB_OFFLINE to download it",
                                {{"repo", request.repo}, {"commit", commit}, {"path", file.path}});
  } else {
    auto& transfer = m_transfers[file.etag];
    if (!transfer) {
      transfer = std::make_shared<TransferProgress>();
      transfer->size = file.size;
    }
    status.transfer = transfer;
    status.state = "downloading";
    std::function<asio::awaitable<proto::Result<store::BlobRecord>>()> work =
        [this, repo = request.repo, commit, file] { return download_blob(repo, commit, file); };
    auto fetched = co_await m_downloads.run(file.etag, std::move(work));
    status.transfer = nullptr;
    if (!fetched) {
      status.state = "failed";
      co_return fetched.error();
    }
    blob = *fetched;
  }
  if (blob.sha256 != file.etag) {
    leases.push_back(m_leases.acquire(blob.sha256));
  }

  auto link = [this, &request, &commit, &file, &blob]() -> proto::Result<void> {
    if (file.blob_sha256 != blob.sha256) {
      if (auto r = m_index.set_file_blob(request.repo, commit, file.path, blob.sha256); !r) {
        return r;
      }
    }
    // The access time only orders gc, so a full disk must not stop serving a cached file.
    if (auto touched = m_index.touch_blob(blob.sha256, unix_now()); !touched) {
      spdlog::warn("cannot record the use of blob {}: {}", blob.sha256, touched.error().message);
    }
    return {};
  };
  const auto linked = co_await util::offload(m_blocking, std::move(link));
  if (!linked) {
    status.state = "failed";
    co_return linked.error();
  }
  if (!was_cached) {
    status.state = "done";
  }
  co_return PulledFile{file.path, file.size, blob.sha256, file.etag, was_cached, m_blobs.path(blob.sha256).string()};
}

asio::awaitable<proto::Result<store::BlobRecord>> PullService::download_blob(std::string repo, std::string commit,
                                                                             store::FileRecord file) {
  auto transfer = m_transfers[file.etag];
  if (!transfer) {
    transfer = m_transfers[file.etag] = std::make_shared<TransferProgress>();
  }
  struct Unregister {
    PullService* self;
    std::string key;
    ~Unregister() { self->m_transfers.erase(key); }
  } unregister{this, file.etag};

  const auto started = std::chrono::steady_clock::now();
  auto metadata = co_await m_hub.file_metadata(repo, commit, file.path);
  if (!metadata) {
    spdlog::error("metadata of {}/{} at {} failed: {}", repo, file.path, commit, metadata.error().message);
    co_return metadata.error();
  }
  if (metadata->etag != file.etag || metadata->size != file.size) {
    co_return proto::make_error(Errc::upstream_unavailable,
                                "the Hub reports etag " + metadata->etag + " and size " +
                                    std::to_string(metadata->size) + " for '" + file.path +
                                    "' but its file list says " + file.etag + " and " + std::to_string(file.size) +
                                    "; the repository changed during the pull, retry it",
                                {{"repo", repo}, {"commit", commit}, {"path", file.path}});
  }

  if (auto room = make_room(repo, commit, file); !room) {
    spdlog::error("cannot download {}/{} (blob {}): {}", repo, file.path, short_hash(file.etag), room.error().message);
    co_return room.error();
  }

  const auto chunk_size = chunk_size_for(file.size, m_config.download);
  const store::DownloadPlan plan{file.etag, file.size, chunk_size, m_config.debug_skip_verify};
  auto open_partial = [this, plan] { return store::PartialDownload::open(m_index, m_layout, plan); };
  auto partial = co_await util::offload(m_blocking, std::move(open_partial));
  if (!partial) {
    spdlog::error("cannot prepare the download of {}/{} (blob {}): {}", repo, file.path, short_hash(file.etag),
                  partial.error().message);
    auto error = partial.error();
    error.message = "cannot download '" + file.path + "' of " + repo + ": " + error.message;
    co_return error;
  }
  const std::shared_ptr<store::PartialDownload> shared_download = std::move(*partial);
  auto& download = *shared_download;
  const auto bytes_at_start = download.bytes_done();
  // The per-host and global limits cap a file's connections too; the log and the probing use
  // the count the file can really reach.
  const auto& limits = m_config.download;
  const int connections =
      std::min({limits.connections_per_file, limits.max_connections_per_host, limits.max_connections});
  const int initial_connections = std::min(limits.initial_connections, connections);
  spdlog::info("downloading {}/{} at {} (etag {}, {} bytes in chunks of {}{}, {} of {} chunks already complete, up to {} "
               "connections starting with {}) from {}",
               repo, file.path, short_hash(commit), short_hash(file.etag), file.size, download.plan().chunk_size,
               download.plan().chunk_size != chunk_size ? " as recorded by the partial download" : "",
               download.chunk_count() - download.missing_chunks().size(), download.chunk_count(), connections,
               initial_connections, hub::redact_url(metadata->download_url));

  transfer->size = file.size;
  transfer->state = "downloading";
  PartialDownloadSink sink(shared_download, m_blocking, repo, file.path);
  sink.start_hashing();
  const hub::FileDownloadRequest fetch{repo,
                                       commit,
                                       file.path,
                                       metadata->download_url,
                                       connections,
                                       initial_connections,
                                       m_config.download.file_deadline};
  hub::ProgressCallback on_progress = [transfer](std::uint64_t done) { transfer->done = done; };
  auto fetched = co_await hub::download_file(m_hub, m_limits, m_blocking, sink, fetch, std::move(on_progress));
  if (!fetched) {
    spdlog::error("download of {}/{} (blob {}) failed, completed chunks kept for resume: {}", repo, file.path,
                  short_hash(file.etag), fetched.error().message);
    co_return fetched.error();
  }

  transfer->state = "verifying";
  auto finish = [this, &download] { return download.finish(m_blobs); };
  auto blob = co_await util::offload(m_blocking, std::move(finish));
  if (!blob) {
    spdlog::error("verification of {}/{} (blob {}) failed: {}", repo, file.path, short_hash(file.etag),
                  blob.error().message);
    co_return blob.error();
  }
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // The rate counts only what this run fetched, not the chunks a resumed partial already had.
  const auto fetched_bytes = file.size - bytes_at_start;
  spdlog::info("stored blob {} for {}/{} ({} bytes, {} fetched in {:.2f} s, {:.1f} MB/s)", blob->sha256, repo,
               file.path, file.size, fetched_bytes, seconds,
               seconds > 0 ? static_cast<double>(fetched_bytes) / seconds / 1e6 : 0.0);
  co_return *blob;
}

} // namespace timmd::server

// `verify`: checks the cache against its index. It re-hashes every blob (downloaded and
// derived) against its name and its recorded git object id and size. It also finds blob rows
// without files, files without rows, file rows that name a missing blob or one of another
// size, and derived rows whose blob is gone. A corrupt blob is quarantined (moved to
// CACHE/quarantine/ and its row deleted, so nothing serves it); with `repair` the files that
// named a quarantined or missing blob are fetched again through PullService.
//
// Thread safety: run() on the I/O thread only, because it reads the lease table and uses
// PullService. Hashing and the listing of the blob tree run on the worker pool; each
// quarantine (one rename, one SQLite delete) runs on the I/O thread, as gc's evictions do, so
// that no `open` leases a blob while it is being moved.
#pragma once

#include "daemon/server/lease_table.hpp"
#include "daemon/server/pull_service.hpp"
#include "daemon/store/blob_store.hpp"
#include "daemon/store/cache_layout.hpp"
#include "daemon/store/index.hpp"
#include "proto/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace timmd::server {

struct VerifyRequest {
  // Empty: the whole cache, including files in the blob tree that no row names. Otherwise only
  // the blobs that the file rows of `repo` at `commits` name, and the blobs derived from them.
  std::string repo;
  std::vector<std::string> commits;
  bool repair = false;
  std::uint32_t client_pid = 0; // for logs and the pulls of a repair
};

// Filled in by run() as it goes; a session reads it on the I/O thread to send progress events.
struct VerifyProgress {
  std::string phase = "scanning"; // scanning, hashing, checking, repairing
  std::atomic<std::uint64_t> bytes_done{0}; // written by the worker pool while hashing
  std::uint64_t bytes_total = 0;
  std::size_t blobs_done = 0;
  std::size_t blobs_total = 0;
  std::string current; // the blob being hashed, or REPO/PATH being fetched again
};

// One finding, of one of these kinds:
//   missing_file          a blob row without its file
//   size_mismatch         the file's size differs from its row
//   hash_mismatch         the content's SHA-256 differs from the name
//   git_oid_mismatch      the content's git object id differs from its row
//   unreadable            reading the file failed
//   unrecorded_file       a blob file without a row
//   stray_file            a file in the blob tree whose name is no blob name
//   missing_blob_row      a file row naming a blob that has no row
//   file_size_mismatch    a file row whose size differs from its blob's
//   dangling_derived_row  a derived mapping whose blob has no row
//   lost_blob             files whose blob an earlier verify removed, not fetched again since
struct VerifyProblem {
  std::string kind;
  std::string sha256; // the blob concerned, by its expected hash; empty for a stray file
  std::string detail; // what was found, for people
  bool derived = false;
  bool leased = false;
  // The step verify took: quarantined, row_removed, adopted, link_cleared,
  // derived_row_removed, or none (lost_blob).
  std::string action;
  std::string quarantine_path;
  std::vector<store::FileReference> references; // the file rows that named the blob
  std::vector<std::string> repos;               // repositories using it (for a derived blob, its source's)
  bool repaired = false; // the cache serves these files again (or nothing needs the blob)
  std::string repair;    // how it was repaired, or why not
};

struct VerifyReport {
  std::string repo; // empty for the whole cache
  std::vector<std::string> commits;
  bool repair = false;
  std::size_t blobs_checked = 0;
  std::size_t file_rows_checked = 0;
  std::uint64_t bytes_hashed = 0;
  std::vector<VerifyProblem> problems;

  std::size_t unrepaired() const;
  nlohmann::json to_json() const;
};

class CacheVerifier {
public:
  // REQUIRES: every reference outlives the verifier.
  CacheVerifier(boost::asio::any_io_executor blocking, store::Index& index, const store::CacheLayout& layout,
                const store::BlobStore& blobs, const LeaseTable& leases, PullService& pulls);

  // Runs every check of the request's scope, quarantining and repairing as it goes. Problems
  // are results, not errors: an error means the check itself could not go on (an index or
  // filesystem failure), and names what failed.
  boost::asio::awaitable<proto::Result<VerifyReport>> run(VerifyRequest request,
                                                          std::shared_ptr<VerifyProgress> progress);

private:
  struct Scope;

  boost::asio::awaitable<proto::Result<void>> check_blobs(const Scope& scope, VerifyReport& report,
                                                          std::shared_ptr<VerifyProgress> progress);
  boost::asio::awaitable<proto::Result<void>> check_unrecorded_files(VerifyReport& report,
                                                                     std::shared_ptr<VerifyProgress> progress);
  proto::Result<void> check_file_rows(const VerifyRequest& request, VerifyReport& report);
  proto::Result<void> check_derived_rows(const Scope& scope, VerifyReport& report);
  // Adds a lost_blob problem for each blob that file rows in scope lost before this run.
  proto::Result<void> collect_lost_files(const VerifyRequest& request, VerifyReport& report);
  boost::asio::awaitable<void> repair(const VerifyRequest& request, VerifyReport& report,
                                      std::shared_ptr<VerifyProgress> progress);
  // Moves the blob file into quarantine, then deletes its row; fills in the problem's action,
  // references and lease, and logs it.
  proto::Result<void> quarantine_blob(VerifyProblem& problem, bool delete_row);
  proto::Result<void> note_users(VerifyProblem& problem);

  boost::asio::any_io_executor m_blocking;
  store::Index& m_index;
  const store::CacheLayout& m_layout;
  const store::BlobStore& m_blobs;
  const LeaseTable& m_leases;
  PullService& m_pulls;
};

} // namespace timmd::server

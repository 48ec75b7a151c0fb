// `remove`: forgetting a repository (or one revision of it) and deleting the blobs that nothing
// else needs any more.
//
// Thread safety: I/O thread only; it reads the lease table, which lives there.
#pragma once

#include "daemon/server/lease_table.hpp"
#include "daemon/store/blob_store.hpp"
#include "daemon/store/index.hpp"
#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace timmd::server {

struct RemoveRequest {
  std::string repo;
  // Empty: every ref and snapshot of the repository. A branch, tag or refs/pr/N removes that
  // ref, and its commit's file list unless another ref of the repository still points at it.
  // A 40-hex commit removes its file list and every ref that points at it.
  std::string revision;
  bool dry_run = false;
};

struct RemovedBlob {
  std::string sha256;
  std::uint64_t size = 0;
  bool derived = false;
};

struct RemoveReport {
  std::string repo;
  std::vector<std::string> refs;    // ref names removed
  std::vector<std::string> commits; // snapshots whose file lists were removed
  std::vector<RemovedBlob> removed;
  std::vector<RemovedBlob> kept_leased; // no longer named, but in use by an open or a pull; gc takes them later
  std::size_t kept_shared = 0;          // still named by another repository or revision
  bool dry_run = false;

  nlohmann::json to_json() const;
};

// Removes the refs and file lists the request names, then each blob that no remaining file row
// names, together with the derived blobs made from it, unless the blob is pinned or leased.
// Rows go before files (as in gc), so a crash leaves files without rows, which start-up repair
// removes, and never a row without its file. Every removed blob is logged with its hash and the
// repository. `not_found` when the index has no such repository or revision.
proto::Result<RemoveReport> remove_repository(const RemoveRequest& request, store::Index& index,
                                              const store::BlobStore& blobs, const LeaseTable& leases);

} // namespace timmd::server

// Evicting blobs to keep the cache within a size: least recently used first, derived blobs
// (which can be made again without a download) before downloaded ones, never a pinned blob or
// one a client has open.
//
// Thread safety: I/O thread only; it reads the lease table, which lives there.
#pragma once

#include "daemon/server/lease_table.hpp"
#include "daemon/store/blob_store.hpp"
#include "daemon/store/index.hpp"
#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace timmd::server {

struct GcRequest {
  // Evict until the blobs total at most this; nullopt evicts only blobs nothing references
  // (derived blobs whose source is gone, blobs no snapshot names).
  std::optional<std::uint64_t> max_bytes;
  bool dry_run = false;
  // Blobs never evicted by this run, e.g. the other files of a pull that makes room for itself.
  std::set<std::string, std::less<>> keep;
};

struct EvictedBlob {
  std::string sha256;
  std::uint64_t size = 0;
  bool derived = false;
  std::int64_t last_access = 0;
  std::vector<std::string> repos;
};

struct GcReport {
  std::vector<EvictedBlob> evicted;
  std::uint64_t bytes_before = 0;
  std::uint64_t bytes_after = 0;
  std::size_t kept_pinned = 0; // blobs the target wanted gone but a pin kept
  std::size_t kept_leased = 0; // the same for leases (open in a client, or in use by a pull)
  std::size_t kept_requested = 0; // the same for GcRequest::keep
  std::optional<std::uint64_t> max_bytes; // the request's target, if it had one

  nlohmann::json to_json() const;
};

// Chooses and (unless dry_run) evicts blobs: each index row is deleted before its file, so a
// crash in between leaves a file without a row, which start-up repair removes, and never a row
// without its file. Every eviction is logged with the blob, its size and its repositories.
proto::Result<GcReport> collect_garbage(const GcRequest& request, store::Index& index, const store::BlobStore& blobs,
                                        const LeaseTable& leases);

} // namespace timmd::server

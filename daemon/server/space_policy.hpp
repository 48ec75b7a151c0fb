// Room for a download, checked before its first byte is fetched: the cache quota
// (max_cache_bytes) and the free space the filesystem must keep (min_free_bytes). When auto_gc
// allows, least recently used blobs are evicted to make room; otherwise, or when eviction
// cannot free enough, the download is refused with `disk_full` naming the sizes.
//
// Thread safety: I/O thread only, like the garbage collector it runs.
#pragma once

#include "daemon/server/config.hpp"
#include "daemon/server/lease_table.hpp"
#include "daemon/store/blob_store.hpp"
#include "daemon/store/cache_layout.hpp"
#include "daemon/store/index.hpp"
#include "proto/error.hpp"

#include <cstdint>
#include <functional>
#include <set>
#include <string>

namespace timmd::server {

struct SpaceRequest {
  std::uint64_t incoming = 0; // bytes the download will still allocate in the cache
  std::string what;           // e.g. "org/repo/model.safetensors (blob 1a2b3c4d5e6f)", for messages
  std::set<std::string, std::less<>> keep; // blobs eviction must not touch (the pull's own files)
};

// Free bytes on the cache filesystem for an unprivileged writer; nullopt when statvfs fails.
std::optional<std::uint64_t> available_bytes(const std::filesystem::path& dir);

class SpacePolicy {
public:
  // REQUIRES: every reference outlives the policy.
  SpacePolicy(const Config& config, store::Index& index, const store::CacheLayout& layout,
              const store::BlobStore& blobs, const LeaseTable& leases)
      : m_config(config), m_index(index), m_layout(layout), m_blobs(blobs), m_leases(leases) {}

  // Succeeds when the download fits, after evictions if needed and allowed.
  proto::Result<void> make_room(const SpaceRequest& request);

private:
  const Config& m_config;
  store::Index& m_index;
  const store::CacheLayout& m_layout;
  const store::BlobStore& m_blobs;
  const LeaseTable& m_leases;
};

} // namespace timmd::server

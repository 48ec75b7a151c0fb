#include "daemon/server/garbage_collector.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <fmt/chrono.h>
#include <fmt/ranges.h>

namespace timmd::server {

nlohmann::json GcReport::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& blob : evicted) {
    list.push_back({{"sha256", blob.sha256},
                    {"size", blob.size},
                    {"derived", blob.derived},
                    {"last_access", blob.last_access},
                    {"repos", blob.repos}});
  }
  return {{"evicted", std::move(list)},
          {"bytes_before", bytes_before},
          {"bytes_after", bytes_after},
          {"freed_bytes", bytes_before - bytes_after},
          {"kept_pinned", kept_pinned},
          {"kept_leased", kept_leased},
          {"max_bytes", max_bytes ? nlohmann::json(*max_bytes) : nlohmann::json(nullptr)},
          {"target_met", !max_bytes || bytes_after <= *max_bytes}};
}

proto::Result<GcReport> collect_garbage(const GcRequest& request, store::Index& index, const store::BlobStore& blobs,
                                        const LeaseTable& leases) {
  auto usage = index.blob_usage();
  if (!usage) {
    return usage.error();
  }
  GcReport report;
  report.max_bytes = request.max_bytes;
  for (const auto& blob : *usage) {
    report.bytes_before += blob.blob.size;
  }

  // Derived blobs first, each group least recently used first (blob_usage's order).
  std::stable_partition(usage->begin(), usage->end(), [](const store::BlobUsage& b) { return b.derived; });
  std::uint64_t total = report.bytes_before;
  for (const auto& blob : *usage) {
    const bool unreferenced = blob.repos.empty();
    const bool over = request.max_bytes && total > *request.max_bytes;
    if (!unreferenced && !over) {
      continue;
    }
    if (blob.blob.pin_count > 0) {
      ++report.kept_pinned;
      continue;
    }
    if (leases.is_leased(blob.blob.sha256, blob.blob.git_oid)) {
      ++report.kept_leased;
      continue;
    }
    if (request.keep.contains(blob.blob.sha256)) {
      ++report.kept_requested;
      continue;
    }
    if (!request.dry_run) {
      if (auto deleted = index.delete_blob(blob.blob.sha256); !deleted) {
        return deleted.error();
      }
      if (auto removed = blobs.remove(blob.blob.sha256); !removed) {
        // The row is gone; start-up repair removes the file if it is still there.
        spdlog::error("gc: blob {} left the index but its file could not be removed: {}", blob.blob.sha256,
                      removed.error().message);
      }
      spdlog::info("gc: evicted {} blob {} ({} bytes, last used {:%Y-%m-%d %H:%M:%S} UTC) of {}",
                   blob.derived ? "derived" : "downloaded", blob.blob.sha256, blob.blob.size,
                   fmt::gmtime(static_cast<std::time_t>(blob.blob.last_access)),
                   blob.repos.empty() ? std::string("no repository") : fmt::format("{}", fmt::join(blob.repos, ", ")));
    }
    total -= blob.blob.size;
    report.evicted.push_back({blob.blob.sha256, blob.blob.size, blob.derived, blob.blob.last_access, blob.repos});
  }
  report.bytes_after = total;
  if (request.max_bytes && total > *request.max_bytes) {
    spdlog::warn("gc: the cache stays at {} bytes, above the target of {}: {} pinned and {} in-use blobs were kept",
                 total, *request.max_bytes, report.kept_pinned, report.kept_leased);
  }
  return report;
}

} // namespace timmd::server

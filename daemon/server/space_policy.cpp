#include "daemon/server/space_policy.hpp"

#include "daemon/server/garbage_collector.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include <sys/statvfs.h>

namespace timmd::server {
namespace {

using proto::Errc;

// How far the cache is from having room for the download, in bytes.
struct Shortfall {
  std::uint64_t total = 0;     // bytes the blobs take now
  std::uint64_t available = 0; // free bytes on the filesystem
  std::uint64_t over_quota = 0;
  std::uint64_t below_floor = 0;

  std::uint64_t bytes() const { return std::max(over_quota, below_floor); }
};

std::string describe(const Shortfall& shortfall, const SpaceRequest& request, const Config& config,
                     const std::filesystem::path& dir) {
  std::string text = request.what + " needs " + std::to_string(request.incoming) + " bytes";
  if (shortfall.below_floor > 0) {
    text += "; " + dir.string() + " has " + std::to_string(shortfall.available) + " bytes available and must keep " +
            std::to_string(config.min_free_bytes) + " free (min_free_bytes)";
  }
  if (shortfall.over_quota > 0) {
    text += "; the cache holds " + std::to_string(shortfall.total) + " bytes of its " +
            std::to_string(config.max_cache_bytes) + "-byte quota (max_cache_bytes)";
  }
  return text;
}

// What the user can do about a shortfall, as the end of a message.
std::string fix(const Shortfall& shortfall) {
  std::string text;
  if (shortfall.below_floor > 0) {
    text = "free space on the filesystem or lower min_free_bytes";
  }
  if (shortfall.over_quota > 0) {
    text += std::string(text.empty() ? "" : "; ") +
            "raise max_cache_bytes, unpin models, or remove some with `timmctl remove NAME`";
  }
  return text;
}

proto::Error space_error(std::string message, const Shortfall& shortfall, const SpaceRequest& request,
                         const Config& config) {
  return proto::make_error(Errc::disk_full, std::move(message),
                           {{"needed", request.incoming},
                            {"available", shortfall.available},
                            {"min_free_bytes", config.min_free_bytes},
                            {"cache_bytes", shortfall.total},
                            {"max_cache_bytes", config.max_cache_bytes}});
}

} // namespace

std::optional<std::uint64_t> available_bytes(const std::filesystem::path& dir) {
  struct statvfs filesystem {};
  if (::statvfs(dir.c_str(), &filesystem) != 0) {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(filesystem.f_bavail) * filesystem.f_frsize;
}

proto::Result<void> SpacePolicy::make_room(const SpaceRequest& request) {
  if (m_config.max_cache_bytes > 0 && request.incoming > m_config.max_cache_bytes) {
    return proto::make_error(Errc::disk_full,
                             request.what + " is " + std::to_string(request.incoming) +
                                 " bytes, more than the whole cache quota of " +
                                 std::to_string(m_config.max_cache_bytes) + " bytes; raise max_cache_bytes",
                             {{"needed", request.incoming}, {"max_cache_bytes", m_config.max_cache_bytes}});
  }

  const auto measure = [&]() -> proto::Result<Shortfall> {
    auto blobs = m_index.all_blobs();
    if (!blobs) {
      return blobs.error();
    }
    Shortfall shortfall;
    for (const auto& blob : *blobs) {
      shortfall.total += blob.size;
    }
    // A filesystem that cannot report its free space is left to preallocation, which fails
    // with ENOSPC as `disk_full` if it must.
    const auto available = available_bytes(m_layout.tmp_dir());
    shortfall.available = available.value_or(std::numeric_limits<std::uint64_t>::max());
    const auto floor = request.incoming + m_config.min_free_bytes;
    if (available && *available < floor) {
      shortfall.below_floor = floor - *available;
    }
    if (m_config.max_cache_bytes > 0 && shortfall.total + request.incoming > m_config.max_cache_bytes) {
      shortfall.over_quota = shortfall.total + request.incoming - m_config.max_cache_bytes;
    }
    return shortfall;
  };

  auto before = measure();
  if (!before) {
    return before.error();
  }
  if (before->bytes() == 0) {
    return {};
  }
  if (!m_config.auto_gc) {
    return space_error("not enough room: " + describe(*before, request, m_config, m_layout.root()) + "; " +
                           fix(*before) + ", or set auto_gc to let downloads evict least recently used blobs",
                       *before, request, m_config);
  }

  // A dry run first: evicting blobs that cannot make enough room would lose them for nothing.
  GcRequest gc;
  gc.max_bytes = before->total - std::min(before->total, before->bytes());
  gc.keep = request.keep;
  gc.dry_run = true;
  auto planned = collect_garbage(gc, m_index, m_blobs, m_leases);
  if (!planned) {
    return planned.error();
  }
  const auto evictable = planned->bytes_before - planned->bytes_after;
  if (evictable < before->bytes()) {
    const auto kept = planned->kept_pinned + planned->kept_leased + planned->kept_requested;
    return space_error("not enough room: " + describe(*before, request, m_config, m_layout.root()) +
                           "; evicting every blob that may go would free only " + std::to_string(evictable) +
                           " bytes (" + std::to_string(kept) + " blobs are pinned, in use or part of this pull), so none " +
                           "was evicted; " + fix(*before),
                       *before, request, m_config);
  }

  gc.dry_run = false;
  spdlog::info("making room for {}: evicting least recently used blobs down to {} bytes", request.what,
               *gc.max_bytes);
  auto report = collect_garbage(gc, m_index, m_blobs, m_leases);
  if (!report) {
    return report.error();
  }

  auto after = measure();
  if (!after) {
    return after.error();
  }
  if (after->bytes() == 0) {
    return {};
  }
  // Another writer on the filesystem took the space that the evictions freed.
  const auto kept = report->kept_pinned + report->kept_leased + report->kept_requested;
  return space_error("not enough room: " + describe(*after, request, m_config, m_layout.root()) + ", after gc freed " +
                         std::to_string(report->bytes_before - report->bytes_after) + " bytes and kept " +
                         std::to_string(kept) + " blobs that are pinned, in use or part of this pull; " + fix(*after),
                     *after, request, m_config);
}

} // namespace timmd::server

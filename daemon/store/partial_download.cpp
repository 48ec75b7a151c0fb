#include "daemon/store/partial_download.hpp"

#include "daemon/store/file_handle.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace timmd::store {
namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::size_t count_chunks(const DownloadPlan& plan) {
  return static_cast<std::size_t>(plan.size / plan.chunk_size +
                                  (plan.size % plan.chunk_size != 0 ? 1 : 0));
}

proto::Result<void> check_plan(const DownloadPlan& plan) {
  if (!is_sha256_hex(plan.key) && !is_sha1_hex(plan.key)) {
    return proto::make_error(proto::Errc::invalid_request,
                             "invalid download key '" + plan.key +
                               "': expected the etag of the file, 64 or 40 lowercase hex digits",
                             {{"key", plan.key}});
  }
  if (plan.chunk_size == 0 ||
      plan.size > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
    return proto::make_error(proto::Errc::invalid_request,
                             "invalid download plan for " + plan.key + ": size " +
                               std::to_string(plan.size) + " with chunk size " +
                               std::to_string(plan.chunk_size),
                             {{"key", plan.key}});
  }
  return {};
}

bool is_resumable(const DownloadRecord& record, const DownloadPlan& plan,
                  const std::filesystem::path& file) {
  struct stat status {};
  return record.size == plan.size && record.chunk_size > 0 &&
         ::stat(file.c_str(), &status) == 0 && S_ISREG(status.st_mode) &&
         static_cast<std::uint64_t>(status.st_size) == plan.size;
}

// Reserves the whole file up front so that a full disk shows at the start of a download, not
// after gigabytes were fetched.
proto::Result<void> preallocate(int fd, const std::filesystem::path& file, std::uint64_t size) {
  if (size == 0) {
    return {};
  }
  const auto length = static_cast<off_t>(size);

  // posix_fallocate returns the error number instead of setting errno.
  int error = ::posix_fallocate(fd, 0, length);
  if (error == EOPNOTSUPP) {
    // The filesystem cannot reserve blocks, so fall back to a sparse file: a full disk then
    // shows up later, as ENOSPC from write().
    error = ::ftruncate(fd, length) == 0 ? 0 : errno;
  }
  if (error == 0) {
    return {};
  }
  if (error != ENOSPC && error != EDQUOT) {
    return errno_error("preallocating " + std::to_string(size) + " bytes for", file, error);
  }

  struct statvfs filesystem {};
  const auto available = ::fstatvfs(fd, &filesystem) == 0
                           ? static_cast<std::uint64_t>(filesystem.f_bavail) * filesystem.f_frsize
                           : 0;
  return proto::make_error(proto::Errc::disk_full,
                           "not enough space for the partial download " + file.string() +
                             ": it needs " + std::to_string(size) +
                             " bytes and the filesystem has " + std::to_string(available) +
                             " bytes available; free space or move the cache directory",
                           {{"path", file.string()}, {"size", size}, {"available", available}});
}

proto::Error finished_error(const DownloadPlan& plan) {
  return proto::make_error(proto::Errc::invalid_request,
                           "the partial download of " + plan.key +
                             " was already finished or discarded; open it again",
                           {{"key", plan.key}});
}

} // namespace

proto::Result<std::unique_ptr<PartialDownload>> PartialDownload::open(Index& index,
                                                                      const CacheLayout& layout,
                                                                      DownloadPlan plan) {
  if (auto checked = check_plan(plan); !checked) {
    return checked.error();
  }
  const auto file = layout.partial_path(plan.key);

  auto recorded = index.find_download(plan.key);
  if (!recorded) {
    return recorded.error();
  }
  if (*recorded && is_resumable(**recorded, plan, file)) {
    auto fd = open_file(file, O_RDWR);
    if (!fd) {
      return errno_error("opening the partial download", file, errno);
    }
    // The chunk map is only meaningful in the chunk size it was recorded with.
    plan.chunk_size = (*recorded)->chunk_size;
    auto chunks = std::move((*recorded)->chunks_done);
    return std::unique_ptr<PartialDownload>(
      new PartialDownload(index, layout, std::move(plan), fd.release(), std::move(chunks)));
  }

  // Starting over: the old bytes may belong to a different plan, so none of them are trusted.
  // The old row goes first, because a crash after truncating the file but before the new row
  // would otherwise resume on zeros that the old row calls complete.
  if (*recorded) {
    if (auto deleted = index.delete_download(plan.key); !deleted) {
      return deleted.error();
    }
  }
  auto fd = open_file(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (!fd) {
    return errno_error("creating the partial download", file, errno);
  }
  DownloadRecord record{
    .key = plan.key,
    .size = plan.size,
    .chunk_size = plan.chunk_size,
    .chunks_done = std::vector<bool>(count_chunks(plan), false),
    .started = unix_now(),
  };
  auto prepared = preallocate(fd.get(), file, plan.size);
  if (prepared) {
    prepared = index.begin_download(record);
  }
  if (!prepared) {
    ::unlink(file.c_str());
    return prepared.error();
  }

  return std::unique_ptr<PartialDownload>(new PartialDownload(
    index, layout, std::move(plan), fd.release(), std::move(record.chunks_done)));
}

PartialDownload::PartialDownload(Index& index, const CacheLayout& layout, DownloadPlan plan,
                                 int fd, std::vector<bool> chunks_done)
  : m_index(index), m_layout(layout), m_plan(std::move(plan)), m_fd(fd),
    m_chunks_done(std::move(chunks_done)), m_sha256(Hasher::sha256()) {
  if (is_sha1_hex(m_plan.key)) {
    m_git_sha1 = Hasher::git_blob_sha1(m_plan.size);
  }
}

PartialDownload::~PartialDownload() { UniqueFd closed(m_fd); }

bool PartialDownload::chunk_done(std::size_t chunk) const {
  std::lock_guard lock(m_mutex);
  return chunk < m_chunks_done.size() && m_chunks_done[chunk];
}

std::vector<std::size_t> PartialDownload::missing_chunks() const {
  std::lock_guard lock(m_mutex);
  std::vector<std::size_t> missing;
  for (std::size_t chunk = 0; chunk < m_chunks_done.size(); ++chunk) {
    if (!m_chunks_done[chunk]) {
      missing.push_back(chunk);
    }
  }
  return missing;
}

std::uint64_t PartialDownload::chunk_begin(std::size_t chunk) const {
  return std::min<std::uint64_t>(m_plan.size, chunk * m_plan.chunk_size);
}

std::uint64_t PartialDownload::chunk_end(std::size_t chunk) const {
  return std::min<std::uint64_t>(m_plan.size, (chunk + 1) * m_plan.chunk_size);
}

std::uint64_t PartialDownload::bytes_done() const {
  std::lock_guard lock(m_mutex);
  std::uint64_t total = 0;
  for (std::size_t chunk = 0; chunk < m_chunks_done.size(); ++chunk) {
    if (m_chunks_done[chunk]) {
      total += chunk_end(chunk) - chunk_begin(chunk);
    }
  }
  return total;
}

proto::Result<void> PartialDownload::write(std::uint64_t offset, std::span<const std::byte> data) {
  if (m_fd < 0) {
    return finished_error(m_plan);
  }
  if (offset > m_plan.size || data.size() > m_plan.size - offset) {
    return proto::make_error(proto::Errc::invalid_request,
                             "a write of " + std::to_string(data.size()) + " bytes at offset " +
                               std::to_string(offset) + " does not fit the " +
                               std::to_string(m_plan.size) + "-byte download of " + m_plan.key,
                             {{"key", m_plan.key}});
  }

  while (!data.empty()) {
    const auto written = ::pwrite(m_fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (written < 0 && errno == EINTR) {
      continue;
    }
    if (written < 0) {
      return errno_error("writing " + std::to_string(data.size()) + " bytes at offset " +
                           std::to_string(offset) + " of",
                         m_layout.partial_path(m_plan.key), errno);
    }
    data = data.subspan(static_cast<std::size_t>(written));
    offset += static_cast<std::uint64_t>(written);
  }
  return {};
}

proto::Result<void> PartialDownload::complete_chunk(std::size_t chunk) {
  if (m_fd < 0) {
    return finished_error(m_plan);
  }
  if (chunk >= chunk_count()) {
    return proto::make_error(proto::Errc::invalid_request,
                             "chunk " + std::to_string(chunk) + " is out of range for download " +
                               m_plan.key + ", which has " + std::to_string(chunk_count()) +
                               " chunks",
                             {{"key", m_plan.key}});
  }

  // A chunk is marked done only once its bytes are on disk. Otherwise a crash could resume with
  // a hole that only the final hash catches, after the whole file was fetched.
  if (::fdatasync(m_fd) != 0) {
    return errno_error("flushing", m_layout.partial_path(m_plan.key), errno);
  }
  if (auto marked = m_index.mark_chunk_done(m_plan.key, chunk); !marked) {
    return marked.error();
  }

  std::lock_guard lock(m_mutex);
  m_chunks_done[chunk] = true;
  return {};
}

bool PartialDownload::hash_next_chunk() {
  std::unique_lock hashing(m_hash_mutex, std::try_to_lock);
  if (!hashing.owns_lock() || m_fd < 0 || m_hashed_chunks >= chunk_count() ||
      !chunk_done(m_hashed_chunks)) {
    return false;
  }
  if (m_plan.skip_verify && !m_git_sha1) {
    return false;
  }

  try {
    if (auto hashed = hash_chunks(m_hashed_chunks + 1); !hashed) {
      spdlog::warn("partial download {}: hashing ahead stopped at chunk {}: {}; verification "
                   "rereads the file from the start",
                   m_plan.key, m_hashed_chunks, hashed.error().message);
      return false;
    }
  } catch (const std::exception& error) {
    restart_hashing();
    spdlog::warn("partial download {}: hashing ahead failed: {}; verification rereads the file "
                 "from the start",
                 m_plan.key, error.what());
    return false;
  }
  return true;
}

proto::Result<void> PartialDownload::hash_chunks(std::size_t end) {
  std::vector<Hasher*> hashers = {&m_sha256};
  if (m_git_sha1) {
    hashers.push_back(&*m_git_sha1);
  }
  const auto file = m_layout.partial_path(m_plan.key);

  while (m_hashed_chunks < end) {
    const auto begin = chunk_begin(m_hashed_chunks);
    auto hashed = hash_range_into(m_fd, begin, chunk_end(m_hashed_chunks) - begin, file, hashers);
    if (!hashed) {
      // The hashers hold part of a chunk now; only a fresh start gives a digest of the file.
      restart_hashing();
      return hashed.error();
    }
    ++m_hashed_chunks;
    m_hashed_bytes.store(chunk_end(m_hashed_chunks - 1), std::memory_order_relaxed);
  }
  return {};
}

void PartialDownload::restart_hashing() {
  m_sha256 = Hasher::sha256();
  if (m_git_sha1) {
    m_git_sha1 = Hasher::git_blob_sha1(m_plan.size);
  }
  m_hashed_chunks = 0;
  m_hashed_bytes.store(0, std::memory_order_relaxed);
}

void PartialDownload::reset_chunk(std::size_t chunk) {
  std::lock_guard hashing(m_hash_mutex);
  if (chunk < m_hashed_chunks) {
    restart_hashing();
  }
  {
    std::lock_guard lock(m_mutex);
    if (chunk >= m_chunks_done.size() || !m_chunks_done[chunk]) {
      return;
    }
    m_chunks_done[chunk] = false;
  }

  if (auto cleared = m_index.mark_chunk_missing(m_plan.key, chunk); !cleared) {
    spdlog::warn("partial download {}: chunk {} stays marked complete in the index: {}",
                 m_plan.key, chunk, cleared.error().message);
  }
}

proto::Result<BlobRecord> PartialDownload::finish(const BlobStore& blobs) {
  std::lock_guard hashing(m_hash_mutex);
  if (m_fd < 0) {
    return finished_error(m_plan);
  }
  if (const auto missing = missing_chunks(); !missing.empty()) {
    return proto::make_error(proto::Errc::invalid_request,
                             "cannot finish the download of " + m_plan.key + " because " +
                               std::to_string(missing.size()) + " of " +
                               std::to_string(chunk_count()) + " chunks are missing",
                             {{"key", m_plan.key}});
  }
  const auto file = m_layout.partial_path(m_plan.key);

  if (::fsync(m_fd) != 0) {
    return errno_error("flushing", file, errno);
  }

  // Blobs are always named by SHA-256; a git-sha1 key needs the git hash as well, for the check.
  const bool is_git_key = m_git_sha1.has_value();
  std::string sha256_hex;
  std::string git_oid;
  if (m_plan.skip_verify && !is_git_key) {
    spdlog::warn("partial download {}: published without verification (--debug-skip-verify)",
                 m_plan.key);
    sha256_hex = m_plan.key;
  } else {
    if (auto hashed = hash_chunks(chunk_count()); !hashed) {
      return hashed.error();
    }
    sha256_hex = m_sha256.final_hex();
    git_oid = is_git_key ? m_git_sha1->final_hex() : std::string();
  }
  UniqueFd closed(std::exchange(m_fd, -1));
  const auto& actual = is_git_key ? git_oid : sha256_hex;

  if (actual != m_plan.key) {
    remove_partial();
    const auto kind = is_git_key ? "git blob SHA-1" : "SHA-256";
    return proto::make_error(proto::Errc::integrity_error,
                             "the download of " + m_plan.key + " failed verification: expected " +
                               kind + " " + m_plan.key + ", got " + actual +
                               "; the upstream file changed or was corrupted in transit; retry "
                               "the pull",
                             {{"expected", m_plan.key}, {"actual", actual}});
  }

  if (auto published = blobs.publish(file, sha256_hex); !published) {
    return published.error();
  }
  const auto now = unix_now();
  BlobRecord record{
    .sha256 = sha256_hex,
    .size = m_plan.size,
    .git_oid = git_oid,
    .created = now,
    .last_access = now,
    .pin_count = 0,
  };
  if (auto inserted = m_index.insert_blob(record); !inserted) {
    return inserted.error();
  }
  if (auto deleted = m_index.delete_download(m_plan.key); !deleted) {
    return deleted.error();
  }
  return record;
}

void PartialDownload::discard() {
  std::lock_guard hashing(m_hash_mutex);
  remove_partial();
}

void PartialDownload::remove_partial() {
  UniqueFd closed(std::exchange(m_fd, -1));
  const auto file = m_layout.partial_path(m_plan.key);

  if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("partial download {}: cannot remove {}: {}; startup repair removes it later",
                 m_plan.key, file.string(), std::strerror(errno));
  }
  if (auto deleted = m_index.delete_download(m_plan.key); !deleted) {
    spdlog::warn("partial download {}: cannot delete its index row: {}", m_plan.key,
                 deleted.error().message);
  }
}

} // namespace timmd::store

// A download in progress: one preallocated file in CACHE/tmp written with pwrite(2) in chunks,
// whose completed-chunk map lives in the index so that a download killed at any point resumes
// after a restart without fetching verified chunks again. The completed prefix is hashed while
// later chunks arrive (hash_next_chunk()), so finish() has only the tail left to read.
#pragma once

#include "daemon/store/blob_store.hpp"
#include "daemon/store/cache_layout.hpp"
#include "daemon/store/digest.hpp"
#include "daemon/store/index.hpp"
#include "proto/error.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace timmd::store {

struct DownloadPlan {
  std::string key;       // the file's etag: 64 hex (sha256 of an LFS file) or 40 hex (git sha1)
  std::uint64_t size = 0;
  std::uint64_t chunk_size = 32ULL * 1024 * 1024;
  // Benchmarks only (`timmd --debug-skip-verify`): a SHA-256 key is trusted without hashing,
  // to measure what verification costs. Git SHA-1 keys are always hashed, because the blob
  // name is the SHA-256 and only hashing yields it.
  bool skip_verify = false;
};

// Thread safety: write() and complete_chunk() may run concurrently from several threads for
// distinct chunks, and hash_next_chunk() with any of them; finish() and discard() wait for a
// running hash_next_chunk() but must not overlap with write() or complete_chunk(). Once finish()
// has flushed the file (whatever the hash then shows) or discard() ran, the object only reports
// state: write(), complete_chunk() and finish() return `invalid_request`.
class PartialDownload {
public:
  // Opens the partial of plan.key or creates it. A recorded state is resumed when the recorded
  // size matches the plan and the file is still there with that size. It keeps its recorded
  // chunk size, whatever plan.chunk_size requests. Otherwise the partial starts over.
  // Errors: `disk_full` when preallocation fails with ENOSPC (naming the size), `invalid_request`
  // for a key that is not 40 or 64 lowercase hex digits or a zero chunk size, `internal` for
  // other I/O or index failures.
  // REQUIRES: no other PartialDownload for the same key is open (one download per file).
  static proto::Result<std::unique_ptr<PartialDownload>> open(Index& index,
                                                              const CacheLayout& layout,
                                                              DownloadPlan plan);
  ~PartialDownload(); // closes the file; keeps it and its row for a later resume

  const DownloadPlan& plan() const noexcept { return m_plan; }
  std::size_t chunk_count() const noexcept { return m_chunks_done.size(); }
  bool chunk_done(std::size_t chunk) const;
  std::vector<std::size_t> missing_chunks() const;
  std::uint64_t chunk_begin(std::size_t chunk) const;
  std::uint64_t chunk_end(std::size_t chunk) const; // exclusive
  std::uint64_t bytes_done() const;
  // Bytes of the completed prefix already fed to the hashers.
  std::uint64_t bytes_hashed() const noexcept { return m_hashed_bytes.load(std::memory_order_relaxed); }

  // Writes data at an absolute file offset. ENOSPC is `disk_full`, other errors `internal`,
  // each naming the partial file.
  proto::Result<void> write(std::uint64_t offset, std::span<const std::byte> data);

  // Flushes the chunk's data to disk (fdatasync), then records it complete in the index.
  proto::Result<void> complete_chunk(std::size_t chunk);

  // Feeds the first completed chunk after the hashed prefix to the hashers; blocking (up to one
  // chunk of reads, from the page cache when the chunk was just written). Returns true when it
  // hashed a chunk, so a caller loops or schedules another step. Returns false when that chunk
  // is not complete yet, another thread is hashing, or the download has ended. A read error
  // only drops the prefix: finish() then hashes the whole file and reports the error.
  bool hash_next_chunk();

  // Forgets a chunk after a failed transfer so it is fetched again in full. A chunk already
  // recorded complete is also cleared in the index; a failure to do so is logged.
  void reset_chunk(std::size_t chunk);

  // REQUIRES: every chunk complete. Hashes what hash_next_chunk() has not, compares with the key (sha256 for 64-hex
  // keys, git blob sha1 for 40-hex keys), fsyncs, publishes it into `blobs`, inserts the blob
  // row, and deletes the download row. On a mismatch the partial file and its row are removed
  // and the result is `integrity_error` naming the expected and actual digests.
  proto::Result<BlobRecord> finish(const BlobStore& blobs);

  // Removes the partial file and its row, e.g. when the file changed upstream.
  void discard();

private:
  PartialDownload(Index& index, const CacheLayout& layout, DownloadPlan plan, int fd,
                  std::vector<bool> chunks_done);

  // Hashes chunks [m_hashed_chunks, end) into the running hashers. REQUIRES: m_hash_mutex.
  proto::Result<void> hash_chunks(std::size_t end);
  void restart_hashing();
  // Closes and deletes the partial file and its row. REQUIRES: m_hash_mutex.
  void remove_partial();

  Index& m_index;
  const CacheLayout& m_layout;
  DownloadPlan m_plan;
  int m_fd = -1;
  mutable std::mutex m_mutex;
  std::vector<bool> m_chunks_done;

  // The hashed prefix: chunks [0, m_hashed_chunks) are in the hashers. Guarded by
  // m_hash_mutex, which is held for the whole of a hashing step so that finish() and
  // discard() never close the file under a read.
  std::mutex m_hash_mutex;
  std::size_t m_hashed_chunks = 0;
  std::atomic<std::uint64_t> m_hashed_bytes{0}; // chunk_begin(m_hashed_chunks), for readers without the lock
  Hasher m_sha256;
  std::optional<Hasher> m_git_sha1; // for 40-hex keys
};

} // namespace timmd::store

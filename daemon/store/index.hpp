// The SQLite index of the cache: blobs, repositories, refs, files of each snapshot, and the
// resume state of partial downloads. The schema and its migrations are in index_schema.cpp;
// the schema version is PRAGMA user_version.
//
// Thread safety: every method may be called from any thread; one connection is shared and
// guarded by an internal mutex. Methods are short, so callers on the I/O thread should still
// move them to the worker pool when they write.
#pragma once

#include "proto/error.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace timmd::store {

struct BlobRecord {
  std::string sha256;  // 64 hex; the blob's file name
  std::uint64_t size = 0;
  std::string git_oid; // git blob SHA-1 of the content when known (regular files), else empty
  std::int64_t created = 0;     // unix seconds
  std::int64_t last_access = 0; // unix seconds
  std::int64_t pin_count = 0;
};

// One file of a repository at a commit, as listed by the Hub.
struct FileRecord {
  std::string path;
  std::uint64_t size = 0;
  std::string etag;        // sha256 (LFS file) or git blob sha1 (regular file), as the Hub sends it
  bool is_lfs = false;
  std::string blob_sha256; // the cached blob holding its bytes; empty while not downloaded
};

struct RefRecord {
  std::string repo;
  std::string name;   // branch, tag or refs/pr/N
  std::string commit; // 40 hex
  std::int64_t fetched_at = 0;
};

struct SnapshotSummary {
  std::string repo;
  std::string commit;
  std::vector<std::string> refs; // refs that point at this commit
  std::uint64_t file_count = 0;
  std::uint64_t cached_file_count = 0;
  std::uint64_t cached_bytes = 0;
};

// Resume state of one partial download, keyed by the etag of the file being fetched.
struct DownloadRecord {
  std::string key;
  std::uint64_t size = 0;
  std::uint64_t chunk_size = 0;
  std::vector<bool> chunks_done; // one flag per chunk, ceil(size / chunk_size) of them
  std::int64_t started = 0;
};

// A remapped checkpoint published as a blob of its own.
struct DerivedRecord {
  std::string source_sha256;
  std::string filter_sha256; // canonical hash of the filter, rule set version and source
  std::string derived_sha256;
  std::int64_t created = 0;
};

// A blob with what keeps it: the repositories whose files name it (for a derived blob, those of
// its source) and whether it is a remap output.
struct BlobUsage {
  BlobRecord blob;
  bool derived = false;
  std::vector<std::string> repos;
};

// One file row that names a blob: where the blob is used.
struct FileReference {
  std::string repo;
  std::string commit;
  std::string path;

  bool operator==(const FileReference&) const = default;
};

// A file row that names a blob, with what the blob row records.
struct FileLink {
  FileReference file;
  std::uint64_t size = 0;                // the file's size in the repository's file list
  std::string blob_sha256;
  std::optional<std::uint64_t> blob_size; // nullopt when the blob has no row
};

// A file row whose blob `verify` quarantined or found missing, until the file is linked to a
// blob again.
struct LostFile {
  FileReference file;
  std::string lost_sha256;
};

class Index {
public:
  // Opens or creates the database, sets WAL mode and busy timeout, and migrates the schema to
  // the current version. A database newer than this build, or not a timmd index, is an
  // `internal` error naming the file and the fix (point the daemon at another cache directory).
  static proto::Result<std::unique_ptr<Index>> open(const std::filesystem::path& file);

  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  static int schema_version();

  // Blobs. Inserting an existing sha256 keeps its pin count and creation time.
  proto::Result<void> insert_blob(const BlobRecord& blob);
  proto::Result<std::optional<BlobRecord>> find_blob(std::string_view sha256);
  proto::Result<std::optional<BlobRecord>> find_blob_by_git_oid(std::string_view git_oid);
  // Sets last_access; `not_found` when the blob has no row.
  proto::Result<void> touch_blob(std::string_view sha256, std::int64_t now);
  proto::Result<std::vector<BlobRecord>> all_blobs();
  // Deletes the blob row and clears blob_sha256 of every file row that named it.
  proto::Result<void> delete_blob(std::string_view sha256);

  // Refs. Recording an existing (repo, name) moves it to the new commit.
  proto::Result<void> record_ref(const RefRecord& ref);
  proto::Result<std::optional<RefRecord>> find_ref(std::string_view repo, std::string_view name);

  // Snapshots. record_files replaces the file list of (repo, commit); set_file_blob fills in the
  // blob of one file after it was published. REQUIRES for set_file_blob: the blob row exists.
  // set_file_blob is `not_found` when the file row is missing and `invalid_request` when the
  // blob row is. files_at returns nullopt for a snapshot never recorded and an empty list for
  // one recorded with no files.
  proto::Result<void> record_files(std::string_view repo, std::string_view commit,
                                   const std::vector<FileRecord>& files);
  proto::Result<std::optional<std::vector<FileRecord>>> files_at(std::string_view repo,
                                                                 std::string_view commit);
  proto::Result<void> set_file_blob(std::string_view repo, std::string_view commit,
                                    std::string_view path, std::string_view blob_sha256);
  proto::Result<std::vector<SnapshotSummary>> list_snapshots();

  // Every blob, least recently used first, with its repositories.
  proto::Result<std::vector<BlobUsage>> blob_usage();
  // Adds `delta` to the pin count (never below 0) and returns the new count; `not_found` when
  // the blob has no row.
  proto::Result<std::int64_t> add_pins(std::string_view sha256, std::int64_t delta);

  // Derived blobs. REQUIRES for record_derived: the derived blob's row exists
  // (`invalid_request` otherwise); the source's may have been evicted since. find_derived
  // returns nullopt when nothing was recorded for the pair. Deleting the derived blob's row
  // deletes its mapping.
  proto::Result<void> record_derived(const DerivedRecord& derived);
  proto::Result<std::optional<DerivedRecord>> find_derived(std::string_view source_sha256,
                                                           std::string_view filter_sha256);

  // Integrity checks (index_references.cpp). files_referencing lists the file rows that name
  // `sha256`, ordered by repository, commit and path. file_links lists every file row that names
  // a blob, only those of `repo` when it is not empty. clear_file_blob unsets the blob of one
  // file row and records it as lost (`not_found` when no such row names a blob). delete_lost_blob
  // deletes a blob row as delete_blob does, and records the blob as lost in every file row that
  // named it. lost_files lists the lost file rows (of `repo` when it is not empty); linking a
  // file to a blob (set_file_blob, link_files_by_etag) ends its loss. delete_derived removes
  // one mapping and leaves the blobs alone.
  proto::Result<std::vector<FileReference>> files_referencing(std::string_view sha256);
  proto::Result<std::vector<FileLink>> file_links(std::string_view repo);
  proto::Result<void> clear_file_blob(const FileReference& file);
  proto::Result<void> delete_lost_blob(std::string_view sha256);
  proto::Result<std::vector<LostFile>> lost_files(std::string_view repo);
  // Links to blob `sha256` every file row without a blob whose etag is `sha256` (an LFS file) or
  // `git_oid` (a regular file; empty matches nothing), and returns how many it linked.
  // REQUIRES: the blob row exists.
  proto::Result<std::size_t> link_files_by_etag(std::string_view sha256, std::string_view git_oid);
  proto::Result<std::vector<DerivedRecord>> all_derived();
  proto::Result<void> delete_derived(std::string_view source_sha256, std::string_view filter_sha256);

  // Removing repositories (index_removal.cpp). refs_of and commits_of list what the index
  // records for `repo` (empty for an unknown one). forget_snapshots deletes, in one
  // transaction, the refs of `repo` named in `ref_names` and the snapshots (with their file
  // rows) of `commits`; blob rows stay, because other repositories may name them.
  proto::Result<std::vector<RefRecord>> refs_of(std::string_view repo);
  proto::Result<std::vector<std::string>> commits_of(std::string_view repo);
  proto::Result<void> forget_snapshots(std::string_view repo, const std::vector<std::string>& ref_names,
                                       const std::vector<std::string>& commits);

  // Partial downloads.
  proto::Result<void> begin_download(const DownloadRecord& download); // replaces any old row
  proto::Result<std::optional<DownloadRecord>> find_download(std::string_view key);
  // mark_chunk_done and mark_chunk_missing are `not_found` without a download row and
  // `invalid_request` for a chunk past the end.
  proto::Result<void> mark_chunk_done(std::string_view key, std::size_t chunk);
  proto::Result<void> mark_chunk_missing(std::string_view key, std::size_t chunk);
  proto::Result<void> delete_download(std::string_view key);
  proto::Result<std::vector<DownloadRecord>> all_downloads();

private:
  struct Impl;
  explicit Index(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

} // namespace timmd::store

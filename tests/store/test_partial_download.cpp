#include "daemon/store/partial_download.hpp"

#include "store_fixture.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using timmd::proto::Errc;
using namespace timmd::store;
using namespace timmd::testing;

namespace {

constexpr std::uint64_t k_chunk = 64 * 1024;

void write_chunk(PartialDownload& partial, std::string_view content, std::size_t chunk) {
  const auto begin = partial.chunk_begin(chunk);
  const auto end = partial.chunk_end(chunk);
  const auto bytes = std::as_bytes(std::span(content.data() + begin, end - begin));
  REQUIRE(partial.write(begin, bytes));
  REQUIRE(partial.complete_chunk(chunk));
}

void write_all(PartialDownload& partial, std::string_view content) {
  for (const auto chunk : partial.missing_chunks()) {
    write_chunk(partial, content, chunk);
  }
}

// Writes and completes every chunk from `count` threads, thread t taking chunks t, t + count, ...
void write_from_threads(PartialDownload& partial, std::string_view content, std::size_t count) {
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < count; ++t) {
    threads.emplace_back([&, t] {
      for (auto chunk = t; chunk < partial.chunk_count(); chunk += count) {
        const auto begin = partial.chunk_begin(chunk);
        const auto size = partial.chunk_end(chunk) - begin;
        CHECK(partial.write(begin, std::as_bytes(std::span(content.data() + begin, size))));
        CHECK(partial.complete_chunk(chunk));
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
}

std::unique_ptr<PartialDownload> open_partial(OpenCache& cache, std::string key, std::uint64_t size,
                                              std::uint64_t chunk_size = k_chunk) {
  return PartialDownload::open(*cache.index, cache.layout,
                               {.key = std::move(key), .size = size, .chunk_size = chunk_size})
    .value();
}

// Runs in a child process: completes `completed` chunks of a 64 KiB-chunked download, writes
// part of the next one, and returns whether every step succeeded.
bool download_then_die(const std::filesystem::path& root, std::string_view content,
                       std::size_t completed) {
  OpenCache cache(root);
  auto partial = PartialDownload::open(
    *cache.index, cache.layout,
    {.key = sha256_of(content), .size = content.size(), .chunk_size = k_chunk});
  if (!partial) {
    return false;
  }
  for (std::size_t chunk = 0; chunk < completed; ++chunk) {
    const auto begin = (*partial)->chunk_begin(chunk);
    const auto size = (*partial)->chunk_end(chunk) - begin;
    if (!(*partial)->write(begin, std::as_bytes(std::span(content.data() + begin, size))) ||
        !(*partial)->complete_chunk(chunk)) {
      return false;
    }
  }
  if (completed < (*partial)->chunk_count()) {
    // Part of the next chunk reaches the file but is never marked complete.
    const auto begin = (*partial)->chunk_begin(completed);
    const auto part = std::as_bytes(std::span(content.data() + begin, 100));
    return (*partial)->write(begin, part).has_value();
  }
  return true;
}

} // namespace

TEST_CASE("download finishes into a blob") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto content = make_content(2 * k_chunk + k_chunk / 2, 1);
  const auto sha256 = sha256_of(content);
  auto partial = open_partial(cache, sha256, content.size());
  CHECK(partial->chunk_count() == 3);
  CHECK(partial->chunk_end(2) == content.size());
  CHECK(std::filesystem::file_size(cache.layout.partial_path(sha256)) == content.size());

  write_all(*partial, content);
  CHECK(partial->bytes_done() == content.size());
  const auto record = partial->finish(cache.blobs);

  REQUIRE(record);
  CHECK(record->sha256 == sha256);
  CHECK(record->size == content.size());
  CHECK(record->git_oid.empty());
  CHECK(read_file(cache.blobs.path(sha256)) == content);
  CHECK(cache.index->find_blob(sha256).value().has_value());
  CHECK_FALSE(cache.index->find_download(sha256).value().has_value());
  CHECK_FALSE(std::filesystem::exists(cache.layout.partial_path(sha256)));
}

TEST_CASE("download with a git sha1 key") {
  TempDir dir;
  OpenCache cache(dir.path());
  const std::string content = "hello\n";
  const std::string git_oid = "ce013625030ba8dba906f756967f9e9ca394464a";
  auto partial = open_partial(cache, git_oid, content.size());

  write_all(*partial, content);
  const auto record = partial->finish(cache.blobs);

  REQUIRE(record);
  CHECK(record->sha256 == sha256_of(content));
  CHECK(record->git_oid == git_oid);
  CHECK(cache.blobs.contains(sha256_of(content)));
  const auto by_oid = cache.index->find_blob_by_git_oid(git_oid).value();
  REQUIRE(by_oid.has_value());
  CHECK(by_oid->sha256 == sha256_of(content));
  CHECK_FALSE(cache.index->find_download(git_oid).value().has_value());
}

TEST_CASE("abandoned download resumes missing chunks") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto content = make_content(4 * k_chunk - 100, 2);
  const auto sha256 = sha256_of(content);
  {
    auto partial = open_partial(cache, sha256, content.size());
    write_chunk(*partial, content, 0);
    write_chunk(*partial, content, 2);
    // Chunk 1 is written but never completed, as when the process dies mid-transfer.
    const auto half = std::as_bytes(std::span(content.data() + k_chunk, k_chunk / 2));
    REQUIRE(partial->write(k_chunk, half));
  }
  cache.reopen_index();

  auto resumed = open_partial(cache, sha256, content.size());
  CHECK(resumed->missing_chunks() == std::vector<std::size_t>{1, 3});
  CHECK(resumed->chunk_done(0));
  CHECK(resumed->chunk_done(2));
  CHECK(resumed->bytes_done() == 2 * k_chunk);

  write_all(*resumed, content);
  REQUIRE(resumed->finish(cache.blobs));
  CHECK(read_file(cache.blobs.path(sha256)) == content);
}

TEST_CASE("download killed mid-way resumes") {
  const auto content = make_content(4 * k_chunk + 123, 11);
  const auto sha256 = sha256_of(content);

  for (std::size_t completed = 0; completed <= 5; ++completed) {
    CAPTURE(completed);
    TempDir dir;

    // The child dies by _exit(): no destructor runs and SQLite is not closed cleanly.
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      try {
        ::_exit(download_then_die(dir.path(), content, completed) ? 0 : 1);
      } catch (...) {
        ::_exit(2);
      }
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);

    OpenCache cache(dir.path());
    auto resumed = open_partial(cache, sha256, content.size());
    std::vector<std::size_t> expected_missing;
    for (auto chunk = completed; chunk < 5; ++chunk) {
      expected_missing.push_back(chunk);
    }
    CHECK(resumed->missing_chunks() == expected_missing);

    write_all(*resumed, content);
    REQUIRE(resumed->finish(cache.blobs));
    CHECK(read_file(cache.blobs.path(sha256)) == content);
  }
}

TEST_CASE("partial keeps its recorded chunk size") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto content = make_content(3 * k_chunk, 4);
  const auto sha256 = sha256_of(content);
  {
    auto partial = open_partial(cache, sha256, content.size());
    write_chunk(*partial, content, 1);
  }

  // A configuration change between two runs must not throw away completed chunks.
  auto partial = open_partial(cache, sha256, content.size(), k_chunk / 2);
  CHECK(partial->plan().chunk_size == k_chunk);
  CHECK(partial->chunk_count() == 3);
  CHECK(partial->missing_chunks() == std::vector<std::size_t>{0, 2});
  CHECK(cache.index->find_download(sha256).value()->chunk_size == k_chunk);

  write_chunk(*partial, content, 0);
  write_chunk(*partial, content, 2);
  auto blob = partial->finish(cache.blobs);
  REQUIRE_MESSAGE(blob, (blob ? std::string() : blob.error().message));
  CHECK(read_file(cache.blobs.path(sha256)) == content);
}

TEST_CASE("different plan starts over") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto content = make_content(3 * k_chunk, 3);
  const auto sha256 = sha256_of(content);
  {
    auto partial = open_partial(cache, sha256, content.size());
    write_chunk(*partial, content, 0);
  }

  SUBCASE("different size") {
    const auto partial = open_partial(cache, sha256, content.size() + 1);
    CHECK(partial->missing_chunks().size() == 4);
    CHECK(partial->bytes_done() == 0);
    CHECK(std::filesystem::file_size(cache.layout.partial_path(sha256)) == content.size() + 1);
    CHECK(cache.index->find_download(sha256).value()->size == content.size() + 1);
  }
  SUBCASE("partial file truncated") {
    std::filesystem::resize_file(cache.layout.partial_path(sha256), k_chunk);
    const auto partial = open_partial(cache, sha256, content.size());
    CHECK(partial->missing_chunks().size() == 3);
    CHECK(std::filesystem::file_size(cache.layout.partial_path(sha256)) == content.size());
  }
  SUBCASE("partial file removed") {
    std::filesystem::remove(cache.layout.partial_path(sha256));
    const auto partial = open_partial(cache, sha256, content.size());
    CHECK(partial->missing_chunks().size() == 3);
  }
}

TEST_CASE("wrong content is an integrity error") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto expected = make_content(k_chunk + 10, 4);
  const auto served = make_content(k_chunk + 10, 5);
  const auto sha256 = sha256_of(expected);
  auto partial = open_partial(cache, sha256, served.size());
  write_all(*partial, served);

  const auto result = partial->finish(cache.blobs);

  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::integrity_error);
  CHECK(result.error().message.find(sha256) != std::string::npos);
  CHECK(result.error().message.find(sha256_of(served)) != std::string::npos);
  CHECK(result.error().message.find("retry the pull") != std::string::npos);
  CHECK_FALSE(cache.blobs.contains(sha256));
  CHECK_FALSE(cache.blobs.contains(sha256_of(served)));
  CHECK_FALSE(std::filesystem::exists(cache.layout.partial_path(sha256)));
  CHECK_FALSE(cache.index->find_download(sha256).value().has_value());
  CHECK(cache.index->all_blobs().value().empty());
  CHECK(std::filesystem::is_empty(cache.layout.blobs_dir()));
}

TEST_CASE("wrong content under a git sha1 key") {
  TempDir dir;
  OpenCache cache(dir.path());
  const std::string git_oid = "ce013625030ba8dba906f756967f9e9ca394464a"; // "hello\n"
  auto partial = open_partial(cache, git_oid, 6);
  write_all(*partial, "HELLO\n");

  const auto result = partial->finish(cache.blobs);
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::integrity_error);
  CHECK(result.error().message.find(git_oid) != std::string::npos);
  CHECK(result.error().message.find(git_oid_of("HELLO\n")) != std::string::npos);
  CHECK(cache.index->all_blobs().value().empty());
}

TEST_CASE("download of an already present blob") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto content = make_content(1000, 6);
  const auto sha256 = sha256_of(content);
  for (int round = 0; round < 2; ++round) {
    auto partial = open_partial(cache, sha256, content.size());
    write_all(*partial, content);
    REQUIRE(partial->finish(cache.blobs));
  }
  CHECK(read_file(cache.blobs.path(sha256)) == content);
  CHECK(cache.index->all_blobs().value().size() == 1);
  CHECK(std::filesystem::is_empty(cache.layout.tmp_dir()));
}

TEST_CASE("zero byte downloads") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto sha256 = sha256_of("");

  SUBCASE("sha256 key") {
    auto partial = open_partial(cache, sha256, 0);
    CHECK(partial->chunk_count() == 0);
    CHECK(partial->missing_chunks().empty());
    const auto record = partial->finish(cache.blobs);
    REQUIRE(record);
    CHECK(record->size == 0);
  }
  SUBCASE("git sha1 key") {
    auto partial = open_partial(cache, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391", 0);
    const auto record = partial->finish(cache.blobs);
    REQUIRE(record);
    CHECK(record->sha256 == sha256);
    CHECK(record->git_oid == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
  }
  CHECK(cache.blobs.contains(sha256));
  CHECK(std::filesystem::file_size(cache.blobs.path(sha256)) == 0);
}

TEST_CASE("finish with missing chunks") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto content = make_content(2 * k_chunk, 7);
  auto partial = open_partial(cache, sha256_of(content), content.size());
  write_chunk(*partial, content, 0);

  const auto result = partial->finish(cache.blobs);
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::invalid_request);
  CHECK(result.error().message.find("1 of 2 chunks") != std::string::npos);
  // Still usable: the missing chunk can be fetched and the download finished.
  write_all(*partial, content);
  CHECK(partial->finish(cache.blobs));
}

TEST_CASE("finished download rejects more work") {
  TempDir dir;
  OpenCache cache(dir.path());
  auto partial = open_partial(cache, sha256_of("x"), 1);
  write_all(*partial, "x");
  REQUIRE(partial->finish(cache.blobs));

  CHECK(partial->finish(cache.blobs).error().code == Errc::invalid_request);
  CHECK(partial->write(0, std::as_bytes(std::span("x", 1))).error().code == Errc::invalid_request);
  CHECK(partial->complete_chunk(0).error().code == Errc::invalid_request);
}

TEST_CASE("write outside the file") {
  TempDir dir;
  OpenCache cache(dir.path());
  auto partial = open_partial(cache, sha256_of("abcd"), 4);
  const auto bytes = std::as_bytes(std::span("abcd", 4));

  CHECK(partial->write(1, bytes).error().code == Errc::invalid_request);
  CHECK(partial->write(5, bytes.first(0)).error().code == Errc::invalid_request);
  CHECK(partial->write(~std::uint64_t{0}, bytes).error().code == Errc::invalid_request);
  CHECK(partial->complete_chunk(1).error().code == Errc::invalid_request);
  CHECK(partial->write(0, bytes));
}

TEST_CASE("invalid download plans") {
  TempDir dir;
  OpenCache cache(dir.path());
  const std::vector<std::string> keys = {"../../etc/passwd", "", std::string(64, 'A')};
  for (const auto& key : keys) {
    const auto result = PartialDownload::open(*cache.index, cache.layout, {.key = key, .size = 1});
    REQUIRE_FALSE(result);
    CHECK(result.error().code == Errc::invalid_request);
  }
  const auto zero_chunk = PartialDownload::open(
    *cache.index, cache.layout, {.key = sha256_of("x"), .size = 1, .chunk_size = 0});
  CHECK(zero_chunk.error().code == Errc::invalid_request);
  CHECK(std::filesystem::is_empty(cache.layout.tmp_dir()));
}

TEST_CASE("reset chunk is persisted") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto content = make_content(2 * k_chunk, 8);
  const auto sha256 = sha256_of(content);
  {
    auto partial = open_partial(cache, sha256, content.size());
    write_chunk(*partial, content, 0);
    write_chunk(*partial, content, 1);
    partial->reset_chunk(1);
    partial->reset_chunk(7); // out of range is ignored
    CHECK(partial->missing_chunks() == std::vector<std::size_t>{1});
  }
  cache.reopen_index();
  const auto resumed = open_partial(cache, sha256, content.size());
  CHECK(resumed->missing_chunks() == std::vector<std::size_t>{1});
}

TEST_CASE("discard removes partial and row") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto sha256 = sha256_of("abc");
  auto partial = open_partial(cache, sha256, 3);
  partial->discard();

  CHECK_FALSE(std::filesystem::exists(cache.layout.partial_path(sha256)));
  CHECK_FALSE(cache.index->find_download(sha256).value().has_value());
  CHECK(partial->finish(cache.blobs).error().code == Errc::invalid_request);
}

TEST_CASE("chunks written from several threads") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto content = make_content(16 * k_chunk + 5, 9);
  const auto sha256 = sha256_of(content);
  auto partial = open_partial(cache, sha256, content.size());

  write_from_threads(*partial, content, 4);

  CHECK(partial->missing_chunks().empty());
  REQUIRE(partial->finish(cache.blobs));
  CHECK(read_file(cache.blobs.path(sha256)) == content);
}

TEST_CASE("download on a full disk is disk_full") {
  if (::geteuid() != 0) {
    MESSAGE("not run: mounting a 2 MiB tmpfs needs root");
    return;
  }
  TempDir dir;
  std::filesystem::create_directory(dir / "cache");
  TmpfsMount mount(dir / "cache", "2m");
  if (!mount.mounted()) {
    MESSAGE("not run: " << mount.failure());
    return;
  }
  // The index lives outside the small filesystem so that only the partial runs out of space.
  auto layout = CacheLayout::open(dir / "cache").value();
  auto index = Index::open(dir / "index.sqlite3").value();
  const auto sha256 = sha256_of("does not matter");
  const std::uint64_t size = 4 * 1024 * 1024;

  const auto result = PartialDownload::open(*index, layout, {.key = sha256, .size = size});

  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::disk_full);
  CHECK(result.error().message.find(layout.partial_path(sha256).string()) != std::string::npos);
  CHECK(result.error().message.find(std::to_string(size)) != std::string::npos);
  CHECK(result.error().message.find("bytes available") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(layout.partial_path(sha256)));
  CHECK_FALSE(index->find_download(sha256).value().has_value());

  // A download that fits still works on the same filesystem.
  const auto content = make_content(1024 * 1024, 10);
  auto fits =
    PartialDownload::open(*index, layout, {.key = sha256_of(content), .size = content.size()});
  REQUIRE(fits);
  write_all(**fits, content);
  CHECK((*fits)->finish(BlobStore(layout)));
}

TEST_CASE("hashing ahead follows completed prefix") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto content = make_content(3 * k_chunk + 7, 11);
  const auto sha256 = sha256_of(content);
  auto partial = open_partial(cache, sha256, content.size());

  write_chunk(*partial, content, 1);
  CHECK_FALSE(partial->hash_next_chunk()); // chunk 0 is missing, so chunk 1 must wait
  CHECK(partial->bytes_hashed() == 0);

  write_chunk(*partial, content, 0);
  CHECK(partial->hash_next_chunk());
  CHECK(partial->hash_next_chunk());
  CHECK(partial->bytes_hashed() == 2 * k_chunk);
  CHECK_FALSE(partial->hash_next_chunk());

  write_chunk(*partial, content, 3);
  write_chunk(*partial, content, 2);
  const auto record = partial->finish(cache.blobs);
  REQUIRE(record);
  CHECK(record->sha256 == sha256);
  CHECK(partial->bytes_hashed() == content.size());
  CHECK_FALSE(partial->hash_next_chunk()); // the download has ended
}

TEST_CASE("hashing ahead yields git oid") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto content = make_content(2 * k_chunk + 3, 12);
  const auto git_oid = git_oid_of(content);
  auto partial = open_partial(cache, git_oid, content.size());
  write_all(*partial, content);
  CHECK(partial->hash_next_chunk());

  const auto record = partial->finish(cache.blobs);
  REQUIRE(record);
  CHECK(record->git_oid == git_oid);
  CHECK(record->sha256 == sha256_of(content));
}

TEST_CASE("reset hashed chunk restarts hash") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto content = make_content(2 * k_chunk, 13);
  const auto sha256 = sha256_of(content);
  auto partial = open_partial(cache, sha256, content.size());
  write_all(*partial, content);
  CHECK(partial->hash_next_chunk());
  CHECK(partial->bytes_hashed() == k_chunk);

  // The chunk is fetched again, this time with different bytes, which the digest must see.
  partial->reset_chunk(0);
  CHECK(partial->bytes_hashed() == 0);
  const auto other = make_content(k_chunk, 14);
  REQUIRE(partial->write(0, std::as_bytes(std::span(other.data(), k_chunk))));
  REQUIRE(partial->complete_chunk(0));

  const auto result = partial->finish(cache.blobs);
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::integrity_error);
}

TEST_CASE("hashing beside concurrent writers") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto content = make_content(24 * k_chunk + 9, 15);
  const auto sha256 = sha256_of(content);
  auto partial = open_partial(cache, sha256, content.size());

  std::atomic<bool> writing = true;
  std::thread hasher([&] {
    while (writing.load()) {
      if (!partial->hash_next_chunk()) {
        std::this_thread::yield();
      }
    }
  });
  write_from_threads(*partial, content, 3);
  writing = false;
  hasher.join();

  const auto record = partial->finish(cache.blobs);
  REQUIRE(record);
  CHECK(record->sha256 == sha256);
  CHECK(read_file(cache.blobs.path(sha256)) == content);
}

TEST_CASE("skip_verify trusts only sha256 keys") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto expected = make_content(k_chunk + 1, 16);
  const auto served = make_content(k_chunk + 1, 17);
  const auto sha256 = sha256_of(expected);
  {
    auto partial = PartialDownload::open(*cache.index, cache.layout,
                                         {.key = sha256, .size = served.size(), .chunk_size = k_chunk,
                                          .skip_verify = true})
                     .value();
    write_all(*partial, served);
    CHECK_FALSE(partial->hash_next_chunk());
    const auto record = partial->finish(cache.blobs);
    REQUIRE(record); // the debug switch publishes unchecked bytes, which is what it measures
    CHECK(record->sha256 == sha256);
  }

  const auto git_oid = git_oid_of(expected);
  auto partial = PartialDownload::open(*cache.index, cache.layout,
                                       {.key = git_oid, .size = served.size(), .chunk_size = k_chunk,
                                        .skip_verify = true})
                   .value();
  write_all(*partial, served);
  const auto result = partial->finish(cache.blobs);
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::integrity_error);
}

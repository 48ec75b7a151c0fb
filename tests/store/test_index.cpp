#include "daemon/store/index.hpp"

#include "helpers.hpp"

#include <doctest/doctest.h>

#include <sqlite3.h>

#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using timmd::proto::Errc;
using namespace timmd::store;
using namespace timmd::testing;

namespace {

const std::string k_commit_a(40, 'a');
const std::string k_commit_b(40, 'b');

std::string hash_of(char c) { return std::string(64, c); }

// Runs SQL on the file through a separate connection, as an operator's sqlite3 shell would.
std::string query_text(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK);
  std::string text;
  if (sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_text(statement, 0)) {
    text = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
  }
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return text;
}

void execute(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  const int code = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  sqlite3_close(db);
  REQUIRE(code == SQLITE_OK);
}

BlobRecord blob(char c, std::uint64_t size = 10) {
  return BlobRecord{.sha256 = hash_of(c),
                    .size = size,
                    .git_oid = {},
                    .created = 100,
                    .last_access = 100,
                    .pin_count = 0};
}

FileRecord file(std::string path, std::uint64_t size, std::string blob_sha256 = {}) {
  return FileRecord{.path = std::move(path),
                    .size = size,
                    .etag = std::string(40, '1'),
                    .is_lfs = false,
                    .blob_sha256 = std::move(blob_sha256)};
}

} // namespace

TEST_CASE("index creates schema in WAL mode") {
  TempDir dir;
  const auto path = dir / "index.sqlite3";
  {
    const auto index = Index::open(path);
    REQUIRE(index);
  }
  CHECK(Index::schema_version() >= 1);
  CHECK(query_text(path, "PRAGMA user_version") == std::to_string(Index::schema_version()));
  CHECK(query_text(path, "PRAGMA journal_mode") == "wal");
  for (const auto* table : {"blobs", "repos", "refs", "snapshots", "files", "downloads"}) {
    const auto sql = std::string("SELECT count(*) FROM sqlite_schema WHERE name = '") + table + "'";
    CHECK_MESSAGE(query_text(path, sql) == "1", table);
  }

  // Reopening an up-to-date index changes nothing.
  CHECK(Index::open(path));
  CHECK(query_text(path, "PRAGMA user_version") == std::to_string(Index::schema_version()));
}

TEST_CASE("index rejects a file that is not SQLite") {
  TempDir dir;
  const auto path = dir / "index.sqlite3";
  write_file(path, std::string(4096, 'x'));

  const auto index = Index::open(path);
  REQUIRE_FALSE(index);
  CHECK(index.error().code == Errc::internal);
  CHECK(index.error().message.find(path.string()) != std::string::npos);
  CHECK(index.error().message.find("not an SQLite database") != std::string::npos);
  CHECK(read_file(path) == std::string(4096, 'x'));
}

TEST_CASE("index rejects a foreign SQLite database") {
  TempDir dir;
  const auto path = dir / "index.sqlite3";
  execute(path, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')");

  const auto index = Index::open(path);
  REQUIRE_FALSE(index);
  CHECK(index.error().code == Errc::internal);
  CHECK(index.error().message.find(path.string()) != std::string::npos);
  CHECK(index.error().message.find("not a timmd index") != std::string::npos);

  // Nothing was written to the foreign file.
  CHECK(query_text(path, "PRAGMA journal_mode") == "delete");
  CHECK(query_text(path, "SELECT body FROM notes") == "keep me");
  CHECK(query_text(path, "SELECT count(*) FROM sqlite_schema") == "1");
}

TEST_CASE("index rejects a newer schema version") {
  TempDir dir;
  const auto path = dir / "index.sqlite3";
  REQUIRE(Index::open(path));
  const auto newer = Index::schema_version() + 1;
  execute(path, "PRAGMA user_version = " + std::to_string(newer));

  const auto index = Index::open(path);
  REQUIRE_FALSE(index);
  CHECK(index.error().code == Errc::internal);
  CHECK(index.error().message.find(path.string()) != std::string::npos);
  CHECK(index.error().message.find("schema version " + std::to_string(newer)) !=
        std::string::npos);
  CHECK(index.error().message.find("upgrade timmd") != std::string::npos);
}

TEST_CASE("index in a missing directory") {
  TempDir dir;
  const auto index = Index::open(dir / "missing" / "index.sqlite3");
  REQUIRE_FALSE(index);
  CHECK(index.error().code == Errc::internal);
  CHECK(index.error().message.find("open the index") != std::string::npos);
}

TEST_CASE("blob rows insert and find") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();

  auto record = blob('a', 1234);
  record.git_oid = std::string(40, 'c');
  record.pin_count = 2;
  REQUIRE(index->insert_blob(record));

  const auto found = index->find_blob(hash_of('a'));
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->size == 1234);
  CHECK((*found)->git_oid == std::string(40, 'c'));
  CHECK((*found)->pin_count == 2);
  CHECK((*found)->created == 100);

  const auto by_oid = index->find_blob_by_git_oid(std::string(40, 'c'));
  REQUIRE(by_oid);
  REQUIRE(by_oid->has_value());
  CHECK((*by_oid)->sha256 == hash_of('a'));

  CHECK_FALSE(index->find_blob(hash_of('b')).value().has_value());
  CHECK_FALSE(index->find_blob_by_git_oid(std::string(40, 'd')).value().has_value());
}

TEST_CASE("blob reinsert keeps pin count and creation") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  auto first = blob('a');
  first.pin_count = 3;
  first.git_oid = std::string(40, 'c');
  REQUIRE(index->insert_blob(first));

  auto second = blob('a');
  second.created = 500;
  second.last_access = 500;
  REQUIRE(index->insert_blob(second));

  const auto found = index->find_blob(hash_of('a')).value().value();
  CHECK(found.pin_count == 3);
  CHECK(found.created == 100);
  CHECK(found.last_access == 500);
  CHECK(found.git_oid == std::string(40, 'c'));
  CHECK(index->all_blobs().value().size() == 1);
}

TEST_CASE("blob row with invalid names") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();

  auto bad_sha = blob('a');
  bad_sha.sha256 = "../etc/passwd";
  CHECK(index->insert_blob(bad_sha).error().code == Errc::invalid_request);

  auto bad_oid = blob('a');
  bad_oid.git_oid = "XYZ";
  const auto result = index->insert_blob(bad_oid);
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::invalid_request);
  CHECK(result.error().message.find("XYZ") != std::string::npos);
}

TEST_CASE("blob size beyond SQLite integers") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  const auto result = index->insert_blob(blob('a', ~std::uint64_t{0}));
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::internal);
  CHECK(result.error().message.find("insert blob") != std::string::npos);
  CHECK(index->all_blobs().value().empty());
}

TEST_CASE("touch blob") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  REQUIRE(index->insert_blob(blob('a')));

  REQUIRE(index->touch_blob(hash_of('a'), 999));
  CHECK(index->find_blob(hash_of('a')).value()->last_access == 999);

  const auto missing = index->touch_blob(hash_of('b'), 999);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
  CHECK(missing.error().message.find(hash_of('b')) != std::string::npos);
}

TEST_CASE("all blobs sorted") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  for (const char c : {'c', 'a', 'b'}) {
    REQUIRE(index->insert_blob(blob(c)));
  }
  const auto blobs = index->all_blobs().value();
  REQUIRE(blobs.size() == 3);
  CHECK(blobs[0].sha256 == hash_of('a'));
  CHECK(blobs[1].sha256 == hash_of('b'));
  CHECK(blobs[2].sha256 == hash_of('c'));
}

TEST_CASE("refs move to new commits") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  REQUIRE(index->record_ref({.repo = "timm/resnet50.a1_in1k", .name = "main", .commit = k_commit_a,
                             .fetched_at = 10}));
  REQUIRE(index->record_ref({.repo = "timm/resnet50.a1_in1k", .name = "main", .commit = k_commit_b,
                             .fetched_at = 20}));

  const auto ref = index->find_ref("timm/resnet50.a1_in1k", "main").value();
  REQUIRE(ref.has_value());
  CHECK(ref->commit == k_commit_b);
  CHECK(ref->fetched_at == 20);
  CHECK(ref->repo == "timm/resnet50.a1_in1k");
  CHECK(ref->name == "main");

  CHECK_FALSE(index->find_ref("timm/resnet50.a1_in1k", "v1").value().has_value());
  CHECK_FALSE(index->find_ref("timm/other", "main").value().has_value());
}

TEST_CASE("ref with invalid commit") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  const auto result =
    index->record_ref({.repo = "a/b", .name = "main", .commit = "deadbeef", .fetched_at = 0});
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::invalid_request);
  CHECK(result.error().message.find("deadbeef") != std::string::npos);

  CHECK(index->record_ref({.repo = "", .name = "main", .commit = k_commit_a, .fetched_at = 0})
          .error()
          .code == Errc::invalid_request);
}

TEST_CASE("files link to blobs") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  REQUIRE(index->insert_blob(blob('a', 100)));
  REQUIRE(index->record_files("a/b", k_commit_a,
                              {file("model.safetensors", 100), file("config.json", 7)}));
  REQUIRE(
    index->record_ref({.repo = "a/b", .name = "main", .commit = k_commit_a, .fetched_at = 1}));

  REQUIRE(index->set_file_blob("a/b", k_commit_a, "model.safetensors", hash_of('a')));

  const auto files = index->files_at("a/b", k_commit_a).value();
  REQUIRE(files.has_value());
  REQUIRE(files->size() == 2);
  CHECK((*files)[0].path == "config.json");
  CHECK((*files)[0].blob_sha256.empty());
  CHECK((*files)[1].path == "model.safetensors");
  CHECK((*files)[1].blob_sha256 == hash_of('a'));
  CHECK((*files)[1].size == 100);
  CHECK((*files)[1].etag == std::string(40, '1'));

  const auto snapshots = index->list_snapshots().value();
  REQUIRE(snapshots.size() == 1);
  CHECK(snapshots[0].repo == "a/b");
  CHECK(snapshots[0].commit == k_commit_a);
  CHECK(snapshots[0].refs == std::vector<std::string>{"main"});
  CHECK(snapshots[0].file_count == 2);
  CHECK(snapshots[0].cached_file_count == 1);
  CHECK(snapshots[0].cached_bytes == 100);
}

TEST_CASE("delete blob clears file rows") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  REQUIRE(index->insert_blob(blob('a')));
  REQUIRE(index->record_files("a/b", k_commit_a, {file("x.bin", 10, hash_of('a'))}));
  REQUIRE(index->record_files("c/d", k_commit_b, {file("y.bin", 10, hash_of('a'))}));

  REQUIRE(index->delete_blob(hash_of('a')));

  CHECK_FALSE(index->find_blob(hash_of('a')).value().has_value());
  CHECK(index->files_at("a/b", k_commit_a).value()->at(0).blob_sha256.empty());
  CHECK(index->files_at("c/d", k_commit_b).value()->at(0).blob_sha256.empty());
  CHECK(index->list_snapshots().value().at(0).cached_file_count == 0);

  // Deleting a blob that has no row is not an error.
  CHECK(index->delete_blob(hash_of('z')));
}

TEST_CASE("record files replaces the list") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  REQUIRE(index->record_files("a/b", k_commit_a, {file("old.bin", 1), file("keep.bin", 2)}));
  REQUIRE(index->record_files("a/b", k_commit_a, {file("keep.bin", 2)}));

  const auto files = index->files_at("a/b", k_commit_a).value().value();
  REQUIRE(files.size() == 1);
  CHECK(files[0].path == "keep.bin");
}

TEST_CASE("snapshot with no files") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  CHECK_FALSE(index->files_at("a/b", k_commit_a).value().has_value());

  REQUIRE(index->record_files("a/b", k_commit_a, {}));
  const auto files = index->files_at("a/b", k_commit_a).value();
  REQUIRE(files.has_value());
  CHECK(files->empty());
  CHECK(index->list_snapshots().value().at(0).file_count == 0);
}

TEST_CASE("set file blob failures") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  REQUIRE(index->record_files("a/b", k_commit_a, {file("x.bin", 10)}));
  REQUIRE(index->insert_blob(blob('b')));

  const auto missing_file = index->set_file_blob("a/b", k_commit_a, "y.bin", hash_of('b'));
  REQUIRE_FALSE(missing_file);
  CHECK(missing_file.error().code == Errc::not_found);
  CHECK(missing_file.error().message.find("y.bin") != std::string::npos);

  const auto missing_blob = index->set_file_blob("a/b", k_commit_a, "x.bin", hash_of('a'));
  REQUIRE_FALSE(missing_blob);
  CHECK(missing_blob.error().code == Errc::invalid_request);
  CHECK(missing_blob.error().message.find(hash_of('a')) != std::string::npos);

  // record_files has no such check; the foreign key rejects a dangling link as an SQLite error.
  const auto dangling =
    index->record_files("a/b", k_commit_a, {file("x.bin", 10, hash_of('a'))});
  REQUIRE_FALSE(dangling);
  CHECK(dangling.error().code == Errc::internal);
  CHECK(dangling.error().message.find("record file x.bin") != std::string::npos);
  CHECK(dangling.error().message.find("FOREIGN KEY") != std::string::npos);
  CHECK(index->files_at("a/b", k_commit_a).value()->size() == 1); // rolled back

  CHECK(index->record_files("a/b", "main", {}).error().code == Errc::invalid_request);
}

TEST_CASE("chunk map persists across reopen") {
  TempDir dir;
  const auto path = dir / "index.sqlite3";
  const DownloadRecord record{.key = hash_of('a'),
                              .size = 20 * 10 - 3,
                              .chunk_size = 10,
                              .chunks_done = std::vector<bool>(20, false),
                              .started = 42};
  {
    auto index = Index::open(path).value();
    REQUIRE(index->begin_download(record));
    for (const std::size_t chunk : {0UL, 7UL, 8UL, 19UL}) {
      REQUIRE(index->mark_chunk_done(hash_of('a'), chunk));
    }
    REQUIRE(index->mark_chunk_done(hash_of('a'), 3));
    REQUIRE(index->mark_chunk_missing(hash_of('a'), 3));
  }

  auto index = Index::open(path).value();
  const auto found = index->find_download(hash_of('a')).value();
  REQUIRE(found.has_value());
  CHECK(found->size == 197);
  CHECK(found->chunk_size == 10);
  CHECK(found->started == 42);
  REQUIRE(found->chunks_done.size() == 20);
  for (std::size_t chunk = 0; chunk < 20; ++chunk) {
    const bool expected = chunk == 0 || chunk == 7 || chunk == 8 || chunk == 19;
    CHECK_MESSAGE(found->chunks_done[chunk] == expected, "chunk " << chunk);
  }
}

TEST_CASE("chunk map errors") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  REQUIRE(index->begin_download({.key = std::string(40, 'e'),
                                 .size = 25,
                                 .chunk_size = 10,
                                 .chunks_done = std::vector<bool>(3, false),
                                 .started = 0}));

  const auto out_of_range = index->mark_chunk_done(std::string(40, 'e'), 3);
  REQUIRE_FALSE(out_of_range);
  CHECK(out_of_range.error().code == Errc::invalid_request);

  const auto unknown = index->mark_chunk_done(hash_of('f'), 0);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == Errc::not_found);

  const auto wrong_count = index->begin_download({.key = hash_of('a'),
                                                  .size = 25,
                                                  .chunk_size = 10,
                                                  .chunks_done = std::vector<bool>(2, false),
                                                  .started = 0});
  CHECK(wrong_count.error().code == Errc::invalid_request);
  CHECK(index->begin_download({.key = "../../x", .size = 0, .chunk_size = 1, .chunks_done = {},
                               .started = 0})
          .error()
          .code == Errc::invalid_request);
}

TEST_CASE("begin download replaces the old row") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  REQUIRE(index->begin_download({.key = hash_of('a'), .size = 30, .chunk_size = 10,
                                 .chunks_done = {true, true, false}, .started = 1}));
  REQUIRE(index->begin_download({.key = hash_of('a'), .size = 0, .chunk_size = 10,
                                 .chunks_done = {}, .started = 2}));

  const auto downloads = index->all_downloads().value();
  REQUIRE(downloads.size() == 1);
  CHECK(downloads[0].size == 0);
  CHECK(downloads[0].chunks_done.empty());
  CHECK(downloads[0].started == 2);

  REQUIRE(index->delete_download(hash_of('a')));
  CHECK(index->all_downloads().value().empty());
  CHECK_FALSE(index->find_download(hash_of('a')).value().has_value());
}

TEST_CASE("index used from several threads") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&index, t] {
      for (int i = 0; i < 25; ++i) {
        auto record = blob('0');
        const auto number = std::to_string(t * 100 + i);
        record.sha256.replace(64 - number.size(), number.size(), number);
        CHECK(index->insert_blob(record));
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(index->all_blobs().value().size() == 100);
}

TEST_CASE("index on a full disk is disk_full") {
  if (::geteuid() != 0) {
    MESSAGE("not run: mounting a tmpfs to fill needs root");
    return;
  }
  TempDir dir;
  TmpfsMount mount(dir.path(), "1m");
  if (!mount.mounted()) {
    MESSAGE("not run: " << mount.failure());
    return;
  }
  auto index = Index::open(dir / "index.sqlite3").value();

  // Leave almost no room, then grow the database until SQLite reports SQLITE_FULL.
  write_file(dir / "filler", std::string(900 * 1024, 'f'));
  timmd::proto::Result<void> result;
  for (int i = 0; i < 100000 && result; ++i) {
    auto record = blob('0');
    const auto number = std::to_string(i);
    record.sha256.replace(64 - number.size(), number.size(), number);
    record.git_oid = std::string(40, 'a');
    result = index->insert_blob(record);
  }
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::disk_full);
  CHECK(result.error().message.find((dir / "index.sqlite3").string()) != std::string::npos);
  index.reset();
}

#include "daemon/store/repair.hpp"

#include "daemon/store/partial_download.hpp"
#include "store_fixture.hpp"

#include <doctest/doctest.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <string>

using namespace std::chrono_literals;
using timmd::proto::Errc;
using namespace timmd::store;
using namespace timmd::testing;

namespace {

constexpr std::chrono::seconds k_grace = 1h;

// Places a file into the blob tree directly, as a crash between rename and insert leaves it.
void plant_blob_file(const CacheLayout& layout, const std::string& name, std::string_view content) {
  std::filesystem::create_directories(layout.blob_path(name).parent_path());
  write_file(layout.blob_path(name), content);
}

void age(const std::filesystem::path& path, std::chrono::seconds by) {
  std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now() - by);
}

RepairReport repair(OpenCache& cache) {
  return repair_cache(*cache.index, cache.layout, cache.blobs, k_grace).value();
}

// Routes spdlog's default logger into a string for the lifetime of the object.
class LogCapture {
public:
  LogCapture() : m_previous(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(m_stream);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(m_previous); }

  std::string text() const { return m_stream.str(); }

private:
  std::shared_ptr<spdlog::logger> m_previous;
  std::ostringstream m_stream;
};

} // namespace

TEST_CASE("repair of a clean cache") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto content = make_content(100, 1);
  auto partial = PartialDownload::open(*cache.index, cache.layout,
                                       {.key = sha256_of(content), .size = content.size()})
                   .value();
  REQUIRE(partial->write(0, std::as_bytes(std::span(content))));
  REQUIRE(partial->complete_chunk(0));
  REQUIRE(partial->finish(cache.blobs));

  const auto report = repair(cache);
  CHECK(report.blob_rows_removed == 0);
  CHECK(report.blob_files_adopted == 0);
  CHECK(report.blob_files_removed == 0);
  CHECK(report.partials_removed == 0);
  CHECK(report.download_rows_removed == 0);
  CHECK(cache.blobs.contains(sha256_of(content)));
}

TEST_CASE("repair removes a row without file") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto sha256 = sha256_of("gone");
  REQUIRE(cache.index->insert_blob(
    {.sha256 = sha256, .size = 4, .git_oid = {}, .created = 1, .last_access = 1, .pin_count = 0}));
  const std::string commit(40, 'a');
  const FileRecord file{
    .path = "x", .size = 4, .etag = sha256, .is_lfs = true, .blob_sha256 = sha256};
  REQUIRE(cache.index->record_files("a/b", commit, {file}));
  LogCapture log;

  const auto report = repair(cache);

  CHECK(report.blob_rows_removed == 1);
  CHECK_FALSE(cache.index->find_blob(sha256).value().has_value());
  CHECK(cache.index->files_at("a/b", commit).value()->at(0).blob_sha256.empty());
  CHECK(log.text().find("warning") != std::string::npos);
  CHECK(log.text().find(sha256) != std::string::npos);
}

TEST_CASE("repair adopts a matching file without row") {
  TempDir dir;
  OpenCache cache(dir.path());
  const std::string content = "hello\n";
  const auto sha256 = sha256_of(content);
  plant_blob_file(cache.layout, sha256, content);
  LogCapture log;

  const auto report = repair(cache);

  CHECK(report.blob_files_adopted == 1);
  CHECK(report.blob_files_removed == 0);
  const auto row = cache.index->find_blob(sha256).value();
  REQUIRE(row.has_value());
  CHECK(row->size == content.size());
  CHECK(row->git_oid == "ce013625030ba8dba906f756967f9e9ca394464a");
  CHECK(file_mode(cache.blobs.path(sha256)) == 0444);
  CHECK(log.text().find(sha256) != std::string::npos);

  // A second run has nothing left to do.
  CHECK(repair(cache).blob_files_adopted == 0);
}

TEST_CASE("repair removes a mismatching file") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto claimed = sha256_of("expected content");
  plant_blob_file(cache.layout, claimed, "corrupted content");
  LogCapture log;

  const auto report = repair(cache);

  CHECK(report.blob_files_removed == 1);
  CHECK(report.blob_files_adopted == 0);
  CHECK_FALSE(std::filesystem::exists(cache.layout.blob_path(claimed)));
  CHECK_FALSE(cache.index->find_blob(claimed).value().has_value());
  CHECK(log.text().find(claimed) != std::string::npos);
}

TEST_CASE("repair removes misnamed blob files") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto sha256 = sha256_of("content");
  const auto wrong_dir = cache.layout.blobs_dir() / (sha256[0] == 'f' ? "00" : "ff");
  std::filesystem::create_directories(wrong_dir);
  write_file(wrong_dir / sha256, "content");
  write_file(wrong_dir / "notes.txt", "stray");

  const auto report = repair(cache);

  CHECK(report.blob_files_removed == 2);
  CHECK(std::filesystem::is_empty(wrong_dir));
}

TEST_CASE("repair leaves a recorded blob alone") {
  TempDir dir;
  OpenCache cache(dir.path());
  // Repair hashes only files without a row, so a recorded file is trusted here.
  const auto claimed = sha256_of("recorded");
  plant_blob_file(cache.layout, claimed, "different bytes");
  REQUIRE(cache.index->insert_blob(
    {.sha256 = claimed, .size = 8, .git_oid = {}, .created = 1, .last_access = 1, .pin_count = 0}));

  const auto report = repair(cache);
  CHECK(report.blob_files_removed == 0);
  CHECK(report.blob_rows_removed == 0);
  CHECK(cache.blobs.contains(claimed));
}

TEST_CASE("repair of temporary files") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto old_file = cache.layout.tmp_dir() / "old.partial";
  const auto young_file = cache.layout.tmp_dir() / "young.partial";
  write_file(old_file, "old");
  write_file(young_file, "young");
  age(old_file, 2h);
  age(young_file, 10min);

  // An old partial with a download row belongs to a resumable download.
  const auto owned_key = sha256_of("owned");
  {
    auto partial = PartialDownload::open(*cache.index, cache.layout, {.key = owned_key, .size = 5});
    REQUIRE(partial);
  }
  age(cache.layout.partial_path(owned_key), 48h);
  LogCapture log;

  const auto report = repair(cache);

  CHECK(report.partials_removed == 1);
  CHECK_FALSE(std::filesystem::exists(old_file));
  CHECK(std::filesystem::exists(young_file));
  CHECK(std::filesystem::exists(cache.layout.partial_path(owned_key)));
  CHECK(cache.index->find_download(owned_key).value().has_value());
  CHECK(log.text().find("old.partial") != std::string::npos);
}

TEST_CASE("repair removes a download row without partial") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto key = sha256_of("lost");
  {
    auto partial = PartialDownload::open(*cache.index, cache.layout, {.key = key, .size = 4});
    REQUIRE(partial);
  }
  std::filesystem::remove(cache.layout.partial_path(key));
  LogCapture log;

  const auto report = repair(cache);

  CHECK(report.download_rows_removed == 1);
  CHECK_FALSE(cache.index->find_download(key).value().has_value());
  CHECK(log.text().find(key) != std::string::npos);
}

TEST_CASE("repair then resume after a crash before insert") {
  TempDir dir;
  OpenCache cache(dir.path());
  const auto content = make_content(3000, 2);
  const auto sha256 = sha256_of(content);
  // The publish happened but the row insert and download cleanup were lost.
  plant_blob_file(cache.layout, sha256, content);
  REQUIRE(cache.index->begin_download({.key = sha256, .size = content.size(), .chunk_size = 1024,
                                       .chunks_done = {true, true, true}, .started = 1}));

  const auto report = repair(cache);

  CHECK(report.blob_files_adopted == 1);
  CHECK(report.download_rows_removed == 1);
  CHECK(cache.index->find_blob(sha256).value().has_value());
}

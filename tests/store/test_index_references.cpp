// The index queries behind `verify` and `remove`: file rows by blob, file links, derived rows,
// and forgetting refs and snapshots.
#include "daemon/store/index.hpp"

#include "helpers.hpp"

#include <doctest/doctest.h>

using timmd::proto::Errc;
using namespace timmd::store;
using namespace timmd::testing;

namespace {

const std::string k_commit_a(40, 'a');
const std::string k_commit_b(40, 'b');

std::string hash_of(char c) { return std::string(64, c); }

BlobRecord blob(char c, std::uint64_t size = 10) {
  return BlobRecord{.sha256 = hash_of(c), .size = size, .git_oid = {}, .created = 1, .last_access = 1, .pin_count = 0};
}

FileRecord file(const std::string& path, char blob_char, std::uint64_t size = 10) {
  return FileRecord{.path = path, .size = size, .etag = hash_of(blob_char), .is_lfs = true, .blob_sha256 = hash_of(blob_char)};
}

// org/one at commits a and b and org/two at commit a, sharing blob 1.
std::unique_ptr<Index> shared_index(const TempDir& dir) {
  auto index = Index::open(dir / "index.sqlite3").value();
  for (const char c : {'1', '2', '3'}) {
    REQUIRE(index->insert_blob(blob(c)));
  }
  REQUIRE(index->record_files("org/one", k_commit_a, {file("model.safetensors", '1'), file("config.json", '2')}));
  REQUIRE(index->record_files("org/one", k_commit_b, {file("model.safetensors", '1'), file("config.json", '3')}));
  REQUIRE(index->record_files("org/two", k_commit_a, {file("model.safetensors", '1')}));
  REQUIRE(index->record_ref({"org/one", "main", k_commit_b, 5}));
  REQUIRE(index->record_ref({"org/one", "v1", k_commit_a, 5}));
  return index;
}

} // namespace

TEST_CASE("files referencing a blob across repositories") {
  TempDir dir;
  auto index = shared_index(dir);

  const auto shared = index->files_referencing(hash_of('1')).value();
  REQUIRE(shared.size() == 3);
  CHECK(shared[0] == FileReference{"org/one", k_commit_a, "model.safetensors"});
  CHECK(shared[1] == FileReference{"org/one", k_commit_b, "model.safetensors"});
  CHECK(shared[2] == FileReference{"org/two", k_commit_a, "model.safetensors"});
  CHECK(index->files_referencing(hash_of('9')).value().empty());
}

TEST_CASE("file links report the blob row's size") {
  TempDir dir;
  auto index = shared_index(dir);
  REQUIRE(index->insert_blob(blob('3', 99))); // an existing row takes the new size

  const auto links = index->file_links("org/one").value();
  REQUIRE(links.size() == 4);
  for (const auto& link : links) {
    CAPTURE(link.file.path);
    REQUIRE(link.blob_size.has_value());
    CHECK(*link.blob_size == (link.blob_sha256 == hash_of('3') ? 99u : 10u));
  }
  CHECK(index->file_links("").value().size() == 5);
  CHECK(index->file_links("org/none").value().empty());
}

TEST_CASE("clear and relink file blobs") {
  TempDir dir;
  auto index = shared_index(dir);
  const FileReference config{"org/one", k_commit_a, "config.json"};

  REQUIRE(index->clear_file_blob(config));
  CHECK(index->files_referencing(hash_of('2')).value().empty());
  auto missing = index->clear_file_blob({"org/one", k_commit_a, "absent.bin"});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);

  // An LFS file's etag is its blob's SHA-256.
  CHECK(index->link_files_by_etag(hash_of('2'), "").value() == 1);
  CHECK(index->files_referencing(hash_of('2')).value().size() == 1);
  CHECK(index->link_files_by_etag(hash_of('2'), "").value() == 0);
}

TEST_CASE("derived rows listed and deleted one by one") {
  TempDir dir;
  auto index = shared_index(dir);
  REQUIRE(index->record_derived({hash_of('1'), hash_of('f'), hash_of('3'), 7}));
  REQUIRE(index->record_derived({hash_of('2'), hash_of('f'), hash_of('3'), 8}));

  auto derived = index->all_derived().value();
  REQUIRE(derived.size() == 2);
  CHECK(derived[0].source_sha256 == hash_of('1'));

  REQUIRE(index->delete_derived(hash_of('1'), hash_of('f')));
  derived = index->all_derived().value();
  REQUIRE(derived.size() == 1);
  CHECK(derived[0].source_sha256 == hash_of('2'));
  CHECK(index->find_blob(hash_of('3')).value().has_value()); // the blob stays
}

TEST_CASE("forget snapshots keeps other repositories and commits") {
  TempDir dir;
  auto index = shared_index(dir);
  CHECK(index->commits_of("org/one").value() == std::vector{k_commit_a, k_commit_b});
  REQUIRE(index->refs_of("org/one").value().size() == 2);

  REQUIRE(index->forget_snapshots("org/one", {"v1"}, {k_commit_a}));
  CHECK(index->commits_of("org/one").value() == std::vector{k_commit_b});
  const auto refs = index->refs_of("org/one").value();
  REQUIRE(refs.size() == 1);
  CHECK(refs[0].name == "main");
  CHECK_FALSE(index->files_at("org/one", k_commit_a).value().has_value());
  CHECK(index->files_at("org/two", k_commit_a).value().has_value());
  CHECK(index->files_referencing(hash_of('2')).value().empty());
  CHECK(index->find_blob(hash_of('2')).value().has_value()); // blob rows stay

  REQUIRE(index->forget_snapshots("org/one", {"main"}, {k_commit_b}));
  CHECK(index->commits_of("org/one").value().empty());
  CHECK(index->refs_of("org/one").value().empty());
  CHECK(index->files_referencing(hash_of('1')).value().size() == 1);
}

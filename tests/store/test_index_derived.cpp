// The index tables for remapped checkpoints and space management: derived, blob usage, pins.
#include "daemon/store/index.hpp"

#include "helpers.hpp"

#include <doctest/doctest.h>

using timmd::proto::Errc;
using namespace timmd::store;
using namespace timmd::testing;

namespace {

const std::string k_commit(40, 'a');

std::string hash_of(char c) { return std::string(64, c); }

BlobRecord blob(char c, std::int64_t last_access) {
  return BlobRecord{.sha256 = hash_of(c), .size = 10, .git_oid = {}, .created = 1, .last_access = last_access, .pin_count = 0};
}

} // namespace

TEST_CASE("derived rows are found by source and filter, and go with the derived blob") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  REQUIRE(index->insert_blob(blob('5', 1)));
  REQUIRE(index->insert_blob(blob('d', 2)));

  const DerivedRecord derived{hash_of('5'), hash_of('f'), hash_of('d'), 5};
  REQUIRE(index->record_derived(derived));
  auto found = index->find_derived(hash_of('5'), hash_of('f'));
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->derived_sha256 == hash_of('d'));
  CHECK_FALSE(index->find_derived(hash_of('5'), hash_of('c')).value().has_value());

  // The source may go while the derived blob stays.
  REQUIRE(index->delete_blob(hash_of('5')));
  CHECK(index->find_derived(hash_of('5'), hash_of('f')).value().has_value());

  REQUIRE(index->delete_blob(hash_of('d')));
  CHECK_FALSE(index->find_derived(hash_of('5'), hash_of('f')).value().has_value());

  auto orphan = index->record_derived({hash_of('5'), hash_of('f'), hash_of('9'), 5});
  REQUIRE_FALSE(orphan);
  CHECK(orphan.error().code == Errc::invalid_request);
}

TEST_CASE("blob usage lists repositories, derived blobs and LRU order") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  REQUIRE(index->insert_blob(blob('e', 30)));
  REQUIRE(index->insert_blob(blob('d', 10)));
  REQUIRE(index->insert_blob(blob('0', 20)));
  REQUIRE(index->record_files("org/model", k_commit,
                              {FileRecord{.path = "model.safetensors", .size = 10, .etag = hash_of('e'), .is_lfs = true,
                                          .blob_sha256 = hash_of('e')}}));
  REQUIRE(index->record_derived({hash_of('e'), hash_of('f'), hash_of('d'), 5}));

  auto usage = index->blob_usage();
  REQUIRE(usage);
  REQUIRE(usage->size() == 3);
  CHECK((*usage)[0].blob.sha256 == hash_of('d'));
  CHECK((*usage)[0].derived);
  CHECK((*usage)[0].repos == std::vector<std::string>{"org/model"});
  CHECK((*usage)[1].blob.sha256 == hash_of('0'));
  CHECK((*usage)[1].repos.empty());
  CHECK((*usage)[2].repos == std::vector<std::string>{"org/model"});
  CHECK_FALSE((*usage)[2].derived);
}

TEST_CASE("pins count up and down, never below zero") {
  TempDir dir;
  auto index = Index::open(dir / "index.sqlite3").value();
  REQUIRE(index->insert_blob(blob('a', 1)));
  CHECK(index->add_pins(hash_of('a'), 1).value() == 1);
  CHECK(index->add_pins(hash_of('a'), 1).value() == 2);
  CHECK(index->add_pins(hash_of('a'), -5).value() == 0);
  auto missing = index->add_pins(hash_of('b'), 1);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
}

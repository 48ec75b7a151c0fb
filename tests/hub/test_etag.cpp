#include "daemon/hub/etag.hpp"

#include <doctest/doctest.h>

#include <string>

using timmd::hub::normalize_etag;
using timmd::proto::Errc;

namespace {

const std::string k_sha1 = "0123456789abcdef0123456789abcdef01234567";
const std::string k_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

std::string to_upper(std::string text) {
  for (auto& c : text) {
    if (c >= 'a' && c <= 'f') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return text;
}

} // namespace

TEST_CASE("etag: bare sha1 accepted") {
  const auto etag = normalize_etag(k_sha1);
  REQUIRE(etag.has_value());
  CHECK(*etag == k_sha1);
}

TEST_CASE("etag: quoted sha256 unquoted") {
  const auto etag = normalize_etag("\"" + k_sha256 + "\"");
  REQUIRE(etag.has_value());
  CHECK(*etag == k_sha256);
}

TEST_CASE("etag: weak prefix removed") {
  const auto etag = normalize_etag("W/\"" + k_sha1 + "\"");
  REQUIRE(etag.has_value());
  CHECK(*etag == k_sha1);
}

TEST_CASE("etag: upper case lowered") {
  const auto etag = normalize_etag("\"" + to_upper(k_sha256) + "\"");
  REQUIRE(etag.has_value());
  CHECK(*etag == k_sha256);
}

TEST_CASE("etag: wrong lengths rejected") {
  CHECK_FALSE(normalize_etag("").has_value());
  CHECK_FALSE(normalize_etag("\"\"").has_value());
  CHECK_FALSE(normalize_etag(k_sha256.substr(0, 63)).has_value());
  CHECK_FALSE(normalize_etag(k_sha256 + "0").has_value());
  CHECK_FALSE(normalize_etag(k_sha1.substr(0, 39)).has_value());
  CHECK_FALSE(normalize_etag(k_sha1 + "0").has_value());
}

TEST_CASE("etag: non-hex rejected") {
  auto with_g = k_sha1;
  with_g[5] = 'g';
  CHECK_FALSE(normalize_etag(with_g).has_value());

  auto with_space = k_sha256;
  with_space[10] = ' ';
  CHECK_FALSE(normalize_etag(with_space).has_value());
}

TEST_CASE("etag: path-like values rejected") {
  CHECK_FALSE(normalize_etag("../x").has_value());
  CHECK_FALSE(normalize_etag("\"../" + k_sha1.substr(3) + "\"").has_value());
  CHECK_FALSE(normalize_etag(k_sha1.substr(0, 20) + "/" + k_sha1.substr(21)).has_value());
}

TEST_CASE("etag: half-quoted rejected") {
  CHECK_FALSE(normalize_etag("\"" + k_sha1).has_value());
  CHECK_FALSE(normalize_etag(k_sha1 + "\"").has_value());
}

TEST_CASE("etag: weak prefix only outside quotes") {
  CHECK_FALSE(normalize_etag("\"W/" + k_sha1 + "\"").has_value());
  CHECK_FALSE(normalize_etag("w/\"" + k_sha1 + "\"").has_value());
}

TEST_CASE("etag: rejection names the value") {
  const auto etag = normalize_etag("../x");
  REQUIRE_FALSE(etag.has_value());
  CHECK(etag.error().code == Errc::upstream_unavailable);
  CHECK(etag.error().message.find("'../x'") != std::string::npos);
  CHECK(etag.error().details.value("etag", "") == "../x");
}

TEST_CASE("etag: long rejected value truncated") {
  const std::string raw(5000, 'x');
  const auto etag = normalize_etag(raw);
  REQUIRE_FALSE(etag.has_value());
  CHECK(etag.error().details.value("etag", "").size() == 100);
  CHECK(etag.error().message.size() < 400);
}

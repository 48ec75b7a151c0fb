#include "daemon/hub/hub_url.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace timmd::hub;

TEST_CASE("percent_encode: unreserved kept") {
  CHECK(percent_encode("AZaz09-_.~") == "AZaz09-_.~");
}

TEST_CASE("percent_encode: reserved encoded") {
  CHECK(percent_encode("a b") == "a%20b");
  CHECK(percent_encode("a/b") == "a%2Fb");
  CHECK(percent_encode("a#b%c") == "a%23b%25c");
  CHECK(percent_encode("?&=+") == "%3F%26%3D%2B");
}

TEST_CASE("percent_encode: safe characters kept") {
  CHECK(percent_encode("dir/a b", "/") == "dir/a%20b");
}

TEST_CASE("percent_encode: UTF-8 bytes encoded") {
  CHECK(percent_encode("\xc3\xbc") == "%C3%BC");
}

TEST_CASE("percent_encode: NUL and control bytes encoded") {
  CHECK(percent_encode(std::string_view("a\0b", 3)) == "a%00b");
  CHECK(percent_encode("\n\x7f") == "%0A%7F");
}

TEST_CASE("parse_origin: https default port") {
  const auto origin = parse_origin("https://huggingface.co/api/models");
  REQUIRE(origin.has_value());
  CHECK(origin->scheme == "https");
  CHECK(origin->host == "huggingface.co");
  CHECK(origin->port == "443");
}

TEST_CASE("parse_origin: http default port") {
  const auto origin = parse_origin("http://example.org");
  REQUIRE(origin.has_value());
  CHECK(origin->port == "80");
}

TEST_CASE("parse_origin: explicit port kept") {
  const auto origin = parse_origin("http://127.0.0.1:8080/x?y=1");
  REQUIRE(origin.has_value());
  CHECK(origin->host == "127.0.0.1");
  CHECK(origin->port == "8080");
}

TEST_CASE("parse_origin: host lower-cased") {
  const auto origin = parse_origin("https://HuggingFace.CO/x");
  REQUIRE(origin.has_value());
  CHECK(origin->host == "huggingface.co");
}

TEST_CASE("parse_origin: explicit default port equals implicit") {
  CHECK(parse_origin("https://hub.test:443/a") == parse_origin("https://hub.test/b"));
}

TEST_CASE("parse_origin: ports and schemes distinguish") {
  CHECK_FALSE(parse_origin("http://hub.test/a") == parse_origin("https://hub.test/a"));
  CHECK_FALSE(parse_origin("http://127.0.0.1:1000/") == parse_origin("http://127.0.0.1:1001/"));
}

TEST_CASE("parse_origin: IPv6 literal") {
  const auto origin = parse_origin("http://[::1]:9000/x");
  REQUIRE(origin.has_value());
  CHECK(origin->host.find("::1") != std::string::npos);
  CHECK(origin->port == "9000");
}

TEST_CASE("parse_origin: non-http rejected") {
  CHECK_FALSE(parse_origin("ftp://hub.test/x").has_value());
  CHECK_FALSE(parse_origin("file:///etc/passwd").has_value());
  CHECK_FALSE(parse_origin("/relative/path").has_value());
  CHECK_FALSE(parse_origin("").has_value());
}

TEST_CASE("is_relative_location: absolute path") {
  CHECK(is_relative_location("/api/resolve-cache/x"));
}

TEST_CASE("is_relative_location: other forms") {
  CHECK_FALSE(is_relative_location("//cdn.test/x"));
  CHECK_FALSE(is_relative_location("https://cdn.test/x"));
  CHECK_FALSE(is_relative_location(""));
}

TEST_CASE("join_location: keeps explicit port") {
  CHECK(join_location("http://127.0.0.1:8080/org/m/resolve/main/a", "/api/x?etag=1") ==
        std::optional<std::string>("http://127.0.0.1:8080/api/x?etag=1"));
}

TEST_CASE("join_location: drops default port") {
  CHECK(join_location("https://huggingface.co/org/m/resolve/main/a", "/api/x") ==
        std::optional<std::string>("https://huggingface.co/api/x"));
}

TEST_CASE("join_location: IPv6 base") {
  const auto joined = join_location("http://[::1]:9000/a", "/b");
  REQUIRE(joined.has_value());
  CHECK(*joined == "http://[::1]:9000/b");
  CHECK(parse_origin(*joined) == parse_origin("http://[::1]:9000/a"));
}

TEST_CASE("join_location: network-path rejected") {
  CHECK_FALSE(join_location("https://huggingface.co/a", "//evil.test/x").has_value());
}

TEST_CASE("join_location: invalid base rejected") {
  CHECK_FALSE(join_location("not a url", "/x").has_value());
}

TEST_CASE("resolve_url: branch and path") {
  CHECK(resolve_url("https://hub.test", "org/model", "main", "sub/model.safetensors") ==
        "https://hub.test/org/model/resolve/main/sub/model.safetensors");
}

TEST_CASE("resolve_url: refs/pr encoded as one segment") {
  CHECK(resolve_url("https://hub.test", "org/model", "refs/pr/1", "config.json") ==
        "https://hub.test/org/model/resolve/refs%2Fpr%2F1/config.json");
}

TEST_CASE("resolve_url: special characters in path") {
  CHECK(resolve_url("https://hub.test", "org/model", "main", "names/with space.txt") ==
        "https://hub.test/org/model/resolve/main/names/with%20space.txt");
  CHECK(resolve_url("https://hub.test", "org/model", "main", "names/a#b%c.txt") ==
        "https://hub.test/org/model/resolve/main/names/a%23b%25c.txt");
  CHECK(resolve_url("https://hub.test", "org/model", "main", "names/\xc3\xbcn\xc3\xaf.txt") ==
        "https://hub.test/org/model/resolve/main/names/%C3%BCn%C3%AF.txt");
}

TEST_CASE("revision_api_url: revision encoded") {
  CHECK(revision_api_url("https://hub.test", "org/model", "refs/pr/1") ==
        "https://hub.test/api/models/org/model/revision/refs%2Fpr%2F1");
}

TEST_CASE("tree_api_url: recursive listing") {
  CHECK(tree_api_url("https://hub.test", "org/model", "0123456789abcdef0123456789abcdef01234567") ==
        "https://hub.test/api/models/org/model/tree/0123456789abcdef0123456789abcdef01234567"
        "?recursive=true&expand=false");
}

TEST_CASE("redact_url: query removed") {
  CHECK(redact_url("https://cdn.test/blobs/abc?X-Sig=secret&Expires=1") == "https://cdn.test/blobs/abc?<redacted>");
}

TEST_CASE("redact_url: no query unchanged") {
  CHECK(redact_url("https://hub.test/org/model") == "https://hub.test/org/model");
}

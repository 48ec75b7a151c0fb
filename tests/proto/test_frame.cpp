#include "proto/frame.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstring>

using namespace timmd::proto;

namespace {

std::array<std::byte, k_frame_header_size> header_of(const std::string& frame) {
  std::array<std::byte, k_frame_header_size> header{};
  std::memcpy(header.data(), frame.data(), header.size());
  return header;
}

} // namespace

TEST_CASE("frame encodes big-endian length") {
  const auto frame = encode_frame({{"op", "hello"}});
  REQUIRE(frame);
  const auto length = decode_frame_length(header_of(*frame));
  REQUIRE(length);
  CHECK(*length == frame->size() - k_frame_header_size);
  const auto payload = decode_frame_payload(frame->substr(k_frame_header_size));
  REQUIRE(payload);
  CHECK((*payload)["op"] == "hello");
}

TEST_CASE("frame length over limit is rejected") {
  const std::array<std::byte, 4> header{std::byte{0x01}, std::byte{0x00}, std::byte{0x00}, std::byte{0x01}};
  const auto length = decode_frame_length(header);
  REQUIRE_FALSE(length);
  CHECK(length.error().code == Errc::invalid_request);
  CHECK(length.error().message.find("16777217") != std::string::npos);
}

TEST_CASE("zero-length frame is rejected") {
  const std::array<std::byte, 4> header{};
  CHECK_FALSE(decode_frame_length(header));
}

TEST_CASE("payload must be a JSON object") {
  CHECK_FALSE(decode_frame_payload("{\"op\":"));
  CHECK_FALSE(decode_frame_payload("[1,2]"));
  CHECK_FALSE(decode_frame_payload("\xff\xfe"));
  CHECK(decode_frame_payload("{}"));
}

TEST_CASE("encoding a non-object is rejected") {
  CHECK_FALSE(encode_frame(nlohmann::json::array()));
}

TEST_CASE("encoding replaces invalid UTF-8 instead of failing") {
  const auto frame = encode_frame({{"path", std::string("a\xff")}});
  REQUIRE(frame);
}

#include "daemon/remap/float_codec.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace timmd::remap {
namespace {

TEST_CASE("float16 conversion rounds to nearest even and round-trips every half value") {
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
    const auto half = static_cast<std::uint16_t>(bits);
    const float value = half_to_float(half);
    if (std::isnan(value)) {
      CHECK(std::isnan(half_to_float(float_to_half(value))));
      continue;
    }
    REQUIRE(float_to_half(value) == half);
  }
  CHECK(half_to_float(float_to_half(1.0F + 1.0F / 2048.0F)) == 1.0F);            // tie to even: down
  CHECK(half_to_float(float_to_half(1.0F + 3.0F / 2048.0F)) == 1.0F + 2.0F / 1024.0F); // tie to even: up
  CHECK(float_to_half(65520.0F) == 0x7c00); // rounds past the largest half
  CHECK(half_to_float(float_to_half(5.960464477539063e-08F)) == 5.960464477539063e-08F); // smallest subnormal
}

TEST_CASE("bfloat16 conversion rounds to nearest even") {
  CHECK(float_to_bfloat16(1.0F) == 0x3f80);
  CHECK(bfloat16_to_float(float_to_bfloat16(1.00390625F)) == 1.0F);     // halfway, even stays
  CHECK(bfloat16_to_float(float_to_bfloat16(1.01171875F)) == 1.015625F); // halfway, odd rounds up
  CHECK(std::isnan(bfloat16_to_float(float_to_bfloat16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST_CASE("narrowing overflow is an error naming the tensor, never a silent infinity") {
  const std::vector<float> values = {1.0F, 70000.0F};
  auto encoded = encode_floats(tensors::Dtype::f16, values, "head.weight");
  REQUIRE_FALSE(encoded.has_value());
  CHECK(encoded.error().code == proto::Errc::invalid_request);
  CHECK(encoded.error().message.find("head.weight") != std::string::npos);
  CHECK(encoded.error().message.find("bf16") != std::string::npos);
  CHECK(encode_floats(tensors::Dtype::bf16, values, "head.weight").has_value());

  const std::vector<float> infinite = {std::numeric_limits<float>::infinity()};
  CHECK(encode_floats(tensors::Dtype::f16, infinite, "x").has_value()); // already infinite: kept

  const double big = 1e300;
  std::vector<std::byte> bytes(8);
  std::memcpy(bytes.data(), &big, 8);
  CHECK_FALSE(cast_floats(tensors::Dtype::f64, tensors::Dtype::f32, bytes, "x").has_value());
}

TEST_CASE("decode and encode agree for every floating dtype") {
  const std::vector<float> values = {0.0F, -1.5F, 3.25F, 1024.0F};
  for (const auto dtype : {tensors::Dtype::f16, tensors::Dtype::bf16, tensors::Dtype::f32, tensors::Dtype::f64}) {
    auto encoded = encode_floats(dtype, values, "t");
    REQUIRE(encoded.has_value());
    CHECK(decode_floats(dtype, encoded->bytes()) == values);
  }
}

} // namespace
} // namespace timmd::remap

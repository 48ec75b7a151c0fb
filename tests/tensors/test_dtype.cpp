#include "daemon/tensors/dtype.hpp"
#include "daemon/tensors/tensor_info.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace timmd::tensors;

TEST_CASE("dtype names round-trip") {
  std::set<std::string_view> names;
  for (const auto dtype : all_dtypes()) {
    CAPTURE(safetensors_name(dtype));
    CHECK(dtype_from_safetensors(safetensors_name(dtype)) == dtype);
    CHECK(dtype_from_torch(torch_name(dtype)) == dtype);
    CHECK(names.insert(safetensors_name(dtype)).second);
  }
  CHECK(all_dtypes().size() == 20);
  CHECK_FALSE(dtype_from_safetensors("F128").has_value());
  CHECK_FALSE(dtype_from_safetensors("f32").has_value());
}

TEST_CASE("dtype sizes and alignment") {
  CHECK(bit_width(Dtype::boolean) == 8);
  CHECK(bit_width(Dtype::bf16) == 16);
  CHECK(bit_width(Dtype::c64) == 64);
  CHECK(bit_width(Dtype::f4) == 4);
  CHECK(bit_width(Dtype::f6_e3m2) == 6);
  CHECK(natural_alignment(Dtype::f64) == 8);
  CHECK(natural_alignment(Dtype::f4) == 1);
  CHECK(natural_alignment(Dtype::f6_e2m3) == 1);
}

TEST_CASE("torch storage classes") {
  CHECK(dtype_from_torch_storage("FloatStorage") == Dtype::f32);
  CHECK(dtype_from_torch_storage("BFloat16Storage") == Dtype::bf16);
  CHECK(dtype_from_torch_storage("LongStorage") == Dtype::i64);
  CHECK_FALSE(dtype_from_torch_storage("ComplexDoubleStorage").has_value());
  CHECK_FALSE(dtype_from_torch_storage("QInt8Storage").has_value());
}

TEST_CASE("sizes overflow and sub-byte rules") {
  CHECK(element_count({}) == 1U);
  CHECK(element_count({0, 5}) == 0U);
  CHECK_FALSE(element_count({1ULL << 32, 1ULL << 32}).has_value());
  CHECK(contiguous_byte_size(Dtype::f4, {4}) == 2U);
  CHECK_FALSE(contiguous_byte_size(Dtype::f4, {3}).has_value());
  CHECK(contiguous_byte_size(Dtype::f6_e2m3, {4}) == 3U);
  CHECK_FALSE(contiguous_byte_size(Dtype::f64, {1ULL << 61}).has_value());
  CHECK(row_major_strides({2, 3, 4}) == std::vector<std::uint64_t>{12, 4, 1});
  CHECK(offset_alignment(0) == k_max_reported_alignment);
  CHECK(offset_alignment(24) == 8);
  CHECK(offset_alignment(13) == 1);
}

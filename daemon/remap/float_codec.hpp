// Converting floating-point tensor bytes to float32 for computation and back, as timm does
// (compute in float32, cast back to the stored dtype).
#pragma once

#include "daemon/tensors/dtype.hpp"
#include "daemon/tensors/tensor_data.hpp"
#include "proto/error.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace timmd::remap {

// True for the dtypes rules compute on and `dtype` casts: f16, bf16, f32, f64.
bool is_floating(tensors::Dtype dtype);

// Elements of `bytes` (little-endian `dtype`) as float32. REQUIRES: is_floating(dtype) and
// bytes.size() a multiple of the element size.
std::vector<float> decode_floats(tensors::Dtype dtype, std::span<const std::byte> bytes);

// Encodes float32 values as `dtype`, rounding to nearest even. A finite value that does not fit
// (above 65504 for f16) is an invalid_request error naming `tensor` and the value, never a
// silent infinity. REQUIRES: is_floating(dtype).
proto::Result<tensors::AlignedBuffer> encode_floats(tensors::Dtype dtype, std::span<const float> values,
                                                    std::string_view tensor);

// Converts elements from one floating dtype to another with the same overflow rule; f64 to f64
// and other identical pairs copy. REQUIRES: both dtypes floating.
proto::Result<tensors::AlignedBuffer> cast_floats(tensors::Dtype from, tensors::Dtype to,
                                                  std::span<const std::byte> bytes, std::string_view tensor);

// Scalar conversions, exposed for tests.
std::uint16_t float_to_half(float value);
float half_to_float(std::uint16_t bits);
std::uint16_t float_to_bfloat16(float value);
float bfloat16_to_float(std::uint16_t bits);

} // namespace timmd::remap

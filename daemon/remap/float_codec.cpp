#include "daemon/remap/float_codec.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

namespace timmd::remap {
namespace {

using tensors::Dtype;

std::uint16_t load16(const std::byte* p) {
  std::uint16_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

proto::Error overflow(std::string_view tensor, Dtype to, double value) {
  std::ostringstream message;
  message << "tensor '" << tensor << "' holds " << value << ", which does not fit in "
          << tensors::safetensors_name(to) << "; request bf16 or f32 instead";
  return proto::make_error(proto::Errc::invalid_request, message.str(),
                           {{"tensor", std::string(tensor)}, {"dtype", std::string(tensors::safetensors_name(to))}});
}

} // namespace

bool is_floating(Dtype dtype) {
  return dtype == Dtype::f16 || dtype == Dtype::bf16 || dtype == Dtype::f32 || dtype == Dtype::f64;
}

std::uint16_t float_to_half(float value) {
  const auto x = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t sign = (x >> 16U) & 0x8000U;
  const std::uint32_t exponent = (x >> 23U) & 0xffU;
  std::uint32_t mantissa = x & 0x7fffffU;
  if (exponent == 0xffU) {
    return static_cast<std::uint16_t>(sign | 0x7c00U | (mantissa != 0 ? 0x200U : 0U));
  }
  const int biased = static_cast<int>(exponent) - 127 + 15;
  if (biased >= 0x1f) {
    return static_cast<std::uint16_t>(sign | 0x7c00U);
  }
  if (biased <= 0) {
    // Subnormal half (or zero): shift the mantissa with its hidden bit into place.
    if (biased < -10) {
      return static_cast<std::uint16_t>(sign);
    }
    mantissa |= 0x800000U;
    const auto shift = static_cast<std::uint32_t>(14 - biased);
    std::uint32_t half = mantissa >> shift;
    const std::uint32_t rest = mantissa & ((1U << shift) - 1U);
    const std::uint32_t middle = 1U << (shift - 1U);
    if (rest > middle || (rest == middle && (half & 1U) != 0)) {
      ++half;
    }
    return static_cast<std::uint16_t>(sign | half);
  }
  // A carry out of the mantissa correctly bumps the exponent, up to infinity.
  std::uint32_t half = (static_cast<std::uint32_t>(biased) << 10U) | (mantissa >> 13U);
  const std::uint32_t rest = mantissa & 0x1fffU;
  if (rest > 0x1000U || (rest == 0x1000U && (half & 1U) != 0)) {
    ++half;
  }
  return static_cast<std::uint16_t>(sign | half);
}

float half_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000U) << 16U;
  const std::uint32_t exponent = (bits >> 10U) & 0x1fU;
  const std::uint32_t mantissa = bits & 0x3ffU;
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exponent == 0x1fU) {
    return std::bit_cast<float>(sign | 0x7f800000U | (mantissa << 13U));
  }
  return std::bit_cast<float>(sign | ((exponent + 112U) << 23U) | (mantissa << 13U));
}

std::uint16_t float_to_bfloat16(float value) {
  const auto x = std::bit_cast<std::uint32_t>(value);
  if (std::isnan(value)) {
    return static_cast<std::uint16_t>((x >> 16U) | 0x40U);
  }
  const std::uint32_t rounding = 0x7fffU + ((x >> 16U) & 1U);
  return static_cast<std::uint16_t>((x + rounding) >> 16U);
}

float bfloat16_to_float(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16U);
}

std::vector<float> decode_floats(Dtype dtype, std::span<const std::byte> bytes) {
  std::vector<float> values;
  switch (dtype) {
  case Dtype::f32:
    values.resize(bytes.size() / 4);
    if (!values.empty()) {
      std::memcpy(values.data(), bytes.data(), values.size() * 4);
    }
    break;
  case Dtype::f64:
    values.reserve(bytes.size() / 8);
    for (std::size_t i = 0; i + 8 <= bytes.size(); i += 8) {
      double v = 0;
      std::memcpy(&v, bytes.data() + i, 8);
      values.push_back(static_cast<float>(v));
    }
    break;
  case Dtype::f16:
  case Dtype::bf16:
    values.reserve(bytes.size() / 2);
    for (std::size_t i = 0; i + 2 <= bytes.size(); i += 2) {
      const auto bits = load16(bytes.data() + i);
      values.push_back(dtype == Dtype::f16 ? half_to_float(bits) : bfloat16_to_float(bits));
    }
    break;
  default:
    break;
  }
  return values;
}

proto::Result<tensors::AlignedBuffer> encode_floats(Dtype dtype, std::span<const float> values,
                                                    std::string_view tensor) {
  const std::size_t width = tensors::bit_width(dtype) / 8;
  tensors::AlignedBuffer out(values.size() * width, 64);
  auto* p = out.bytes().data();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float v = values[i];
    switch (dtype) {
    case Dtype::f32:
      std::memcpy(p + i * 4, &v, 4);
      break;
    case Dtype::f64: {
      const double wide = v;
      std::memcpy(p + i * 8, &wide, 8);
      break;
    }
    case Dtype::f16:
    case Dtype::bf16: {
      const auto bits = dtype == Dtype::f16 ? float_to_half(v) : float_to_bfloat16(v);
      const float back = dtype == Dtype::f16 ? half_to_float(bits) : bfloat16_to_float(bits);
      if (std::isinf(back) && std::isfinite(v)) {
        return overflow(tensor, dtype, v);
      }
      std::memcpy(p + i * 2, &bits, 2);
      break;
    }
    default:
      break;
    }
  }
  return out;
}

proto::Result<tensors::AlignedBuffer> cast_floats(Dtype from, Dtype to, std::span<const std::byte> bytes,
                                                  std::string_view tensor) {
  if (from == to) {
    tensors::AlignedBuffer out(bytes.size(), 64);
    if (!bytes.empty()) {
      std::memcpy(out.bytes().data(), bytes.data(), bytes.size());
    }
    return out;
  }
  if (from == Dtype::f64) {
    // Narrowing straight from double keeps one rounding step, and overflow is checked on the
    // double value so that 1e300 is not reported as infinity.
    std::vector<float> values;
    values.reserve(bytes.size() / 8);
    for (std::size_t i = 0; i + 8 <= bytes.size(); i += 8) {
      double v = 0;
      std::memcpy(&v, bytes.data() + i, 8);
      if (std::isfinite(v) && std::fabs(v) > static_cast<double>(std::numeric_limits<float>::max())) {
        return overflow(tensor, to, v);
      }
      values.push_back(static_cast<float>(v));
    }
    return encode_floats(to, values, tensor);
  }
  return encode_floats(to, decode_floats(from, bytes), tensor);
}

} // namespace timmd::remap

// Element types of tensors, with their sizes and their names in safetensors, PyTorch and numpy.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace timmd::tensors {

// Every dtype of the safetensors format (as of safetensors 0.5). F4 and F6 types are sub-byte:
// a tensor of them must hold a whole number of bytes.
enum class Dtype : std::uint8_t {
  boolean,
  u8,
  i8,
  f8_e5m2,
  f8_e4m3,
  f8_e8m0,
  i16,
  u16,
  f16,
  bf16,
  i32,
  u32,
  f32,
  f64,
  i64,
  u64,
  c64,
  f4,
  f6_e2m3,
  f6_e3m2,
};

// All dtypes, for tests and tables.
std::span<const Dtype> all_dtypes();

// Bits per element: 4 for F4, 6 for F6 types, otherwise 8 times the byte size.
std::uint32_t bit_width(Dtype dtype);

// Alignment a reader needs to view the data in place: the element size, or 1 for sub-byte types.
std::uint32_t natural_alignment(Dtype dtype);

// Spelling in a safetensors header, e.g. "BF16".
std::string_view safetensors_name(Dtype dtype);
std::optional<Dtype> dtype_from_safetensors(std::string_view name);

// Spelling of torch.dtype without the "torch." prefix, e.g. "bfloat16", "float8_e4m3fn".
std::string_view torch_name(Dtype dtype);
std::optional<Dtype> dtype_from_torch(std::string_view name);

// Dtype of a typed storage class of torch (the name after "torch.", e.g. "FloatStorage").
// nullopt for classes without a safetensors dtype (complex128, quantized types).
std::optional<Dtype> dtype_from_torch_storage(std::string_view class_name);

} // namespace timmd::tensors

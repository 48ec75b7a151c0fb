#include "daemon/tensors/dtype.hpp"

#include <array>

namespace timmd::tensors {
namespace {

struct DtypeRow {
  Dtype dtype;
  std::uint32_t bits;
  std::string_view safetensors;
  std::string_view torch;
};

// Torch spellings follow torch 2.x; F4 is torch's packed "float4_e2m1fn_x2" only in name,
// because torch counts two values per element where safetensors counts one.
constexpr std::array<DtypeRow, 20> k_rows{{
  {Dtype::boolean, 8, "BOOL", "bool"},
  {Dtype::u8, 8, "U8", "uint8"},
  {Dtype::i8, 8, "I8", "int8"},
  {Dtype::f8_e5m2, 8, "F8_E5M2", "float8_e5m2"},
  {Dtype::f8_e4m3, 8, "F8_E4M3", "float8_e4m3fn"},
  {Dtype::f8_e8m0, 8, "F8_E8M0", "float8_e8m0fnu"},
  {Dtype::i16, 16, "I16", "int16"},
  {Dtype::u16, 16, "U16", "uint16"},
  {Dtype::f16, 16, "F16", "float16"},
  {Dtype::bf16, 16, "BF16", "bfloat16"},
  {Dtype::i32, 32, "I32", "int32"},
  {Dtype::u32, 32, "U32", "uint32"},
  {Dtype::f32, 32, "F32", "float32"},
  {Dtype::f64, 64, "F64", "float64"},
  {Dtype::i64, 64, "I64", "int64"},
  {Dtype::u64, 64, "U64", "uint64"},
  {Dtype::c64, 64, "C64", "complex64"},
  {Dtype::f4, 4, "F4", "float4_e2m1fn_x2"},
  {Dtype::f6_e2m3, 6, "F6_E2M3", "float6_e2m3fn"},
  {Dtype::f6_e3m2, 6, "F6_E3M2", "float6_e3m2fn"},
}};

constexpr std::array<Dtype, 20> k_all = [] {
  std::array<Dtype, 20> all{};
  for (std::size_t i = 0; i < k_rows.size(); ++i) {
    all[i] = k_rows[i].dtype;
  }
  return all;
}();

const DtypeRow& row(Dtype dtype) {
  return k_rows[static_cast<std::size_t>(dtype)];
}

struct StorageRow {
  std::string_view class_name;
  Dtype dtype;
};

constexpr std::array<StorageRow, 16> k_storages{{
  {"BoolStorage", Dtype::boolean},
  {"ByteStorage", Dtype::u8},
  {"CharStorage", Dtype::i8},
  {"ShortStorage", Dtype::i16},
  {"IntStorage", Dtype::i32},
  {"LongStorage", Dtype::i64},
  {"HalfStorage", Dtype::f16},
  {"BFloat16Storage", Dtype::bf16},
  {"FloatStorage", Dtype::f32},
  {"DoubleStorage", Dtype::f64},
  {"ComplexFloatStorage", Dtype::c64},
  {"Float8_e5m2Storage", Dtype::f8_e5m2},
  {"Float8_e4m3fnStorage", Dtype::f8_e4m3},
  {"UInt16Storage", Dtype::u16},
  {"UInt32Storage", Dtype::u32},
  {"UInt64Storage", Dtype::u64},
}};

} // namespace

std::span<const Dtype> all_dtypes() {
  return k_all;
}

std::uint32_t bit_width(Dtype dtype) {
  return row(dtype).bits;
}

std::uint32_t natural_alignment(Dtype dtype) {
  const auto bits = bit_width(dtype);
  return bits < 8 || bits % 8 != 0 ? 1 : bits / 8;
}

std::string_view safetensors_name(Dtype dtype) {
  return row(dtype).safetensors;
}

std::optional<Dtype> dtype_from_safetensors(std::string_view name) {
  for (const auto& r : k_rows) {
    if (r.safetensors == name) {
      return r.dtype;
    }
  }
  return std::nullopt;
}

std::string_view torch_name(Dtype dtype) {
  return row(dtype).torch;
}

std::optional<Dtype> dtype_from_torch(std::string_view name) {
  for (const auto& r : k_rows) {
    if (r.torch == name) {
      return r.dtype;
    }
  }
  return std::nullopt;
}

std::optional<Dtype> dtype_from_torch_storage(std::string_view class_name) {
  for (const auto& r : k_storages) {
    if (r.class_name == class_name) {
      return r.dtype;
    }
  }
  return std::nullopt;
}

} // namespace timmd::tensors

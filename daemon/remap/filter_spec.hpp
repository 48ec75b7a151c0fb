// What a client asks of a state dict: the request parameters of `open` and `export`
// (num_classes, in_chans, img_size, dtype, include/exclude globs) and the optional target
// manifest listing the model's own tensors.
#pragma once

#include "daemon/tensors/dtype.hpp"
#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace timmd::remap {

using Size2 = std::array<std::uint64_t, 2>; // (height, width)

struct ManifestEntry {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::optional<tensors::Dtype> dtype;
};

// The target model's tensors in its key order, as `model.state_dict()` lists them, plus the
// facts shapes alone cannot give.
struct Manifest {
  std::vector<ManifestEntry> tensors;
  std::optional<std::uint64_t> num_prefix_tokens;
  std::optional<Size2> grid_size;
  std::optional<Size2> window_size;

  // nullptr when the manifest has no tensor of that name.
  const ManifestEntry* find(const std::string& name) const;

  // Parses `{"tensors": [{"name", "shape", "dtype"?}, ...], ...}`; invalid_request naming the
  // entry and field on any error, including a repeated name.
  static proto::Result<Manifest> from_json(const nlohmann::json& json);
  nlohmann::json to_json() const;

private:
  std::map<std::string, std::size_t> m_by_name;
};

struct FilterSpec {
  std::optional<std::int64_t> num_classes;
  std::optional<std::uint64_t> in_chans;
  std::optional<Size2> img_size;
  std::optional<Size2> window_size;
  std::optional<tensors::Dtype> dtype; // f32, f16 or bf16
  std::vector<std::string> include;    // fnmatch globs; empty keeps everything
  std::vector<std::string> exclude;
  std::optional<Manifest> manifest;

  // Parses the `filter` object of a request; a missing or null object is the empty filter.
  // Unknown fields, wrong types and out-of-range values are invalid_request errors that name
  // the field and the accepted values.
  static proto::Result<FilterSpec> from_json(const nlohmann::json& json);

  // The same filter with every field in one spelling and order, so that two requests meaning
  // the same thing hash alike.
  nlohmann::json canonical() const;
};

// Spellings clients use for `dtype`: "f32"/"float32", "f16"/"float16", "bf16"/"bfloat16".
std::optional<tensors::Dtype> parse_float_dtype(std::string_view name);

} // namespace timmd::remap

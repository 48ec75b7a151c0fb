// Streaming (SAX) parse of a safetensors JSON header into raw tensor entries, internal to the
// tensors library. Building no JSON document made opening a 500-tensor file about twice as
// fast (bench/tensors), and duplicate keys are seen before a document would merge them.
#pragma once

#include "daemon/tensors/dtype.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace timmd::tensors::detail {

// One entry of the header as written; validated by the reader afterwards.
struct RawTensor {
  std::string name;
  bool has_dtype = false;
  bool has_shape = false;
  bool has_offsets = false;
  // The dtype value as JSON text, for messages, and its parsed form when it names a dtype.
  std::string dtype_text;
  std::optional<Dtype> dtype;
  std::vector<std::uint64_t> shape;
  std::vector<std::uint64_t> offsets;
};

struct RawHeader {
  std::vector<RawTensor> tensors;
  nlohmann::json metadata = nlohmann::json::object();
};

// Parses `text`. On failure returns nullopt and sets `error` to a message without the file name.
std::optional<RawHeader> parse_raw_header(std::string_view text, std::string& error);

// "[1,2,3]": a list of numbers as JSON text, for messages.
std::string to_json_text(const std::vector<std::uint64_t>& numbers);

} // namespace timmd::tensors::detail

// Maps places in a JSON document back to its text, so that errors in a registry file can name
// the line, the column and the field. nlohmann_json 3.11 keeps no source positions in parsed
// values, so these functions scan the text again; they run only when an error is reported.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace timmd::registry {

// A place in a text, both counted from 1. Columns count bytes, not characters.
struct TextPosition {
  std::size_t line = 1;
  std::size_t column = 1;
};

// Returns the line and column of byte `offset`; an offset past the end names the end.
TextPosition position_at(std::string_view text, std::size_t offset);

// Returns the offset where the value at `pointer` starts in `text`, or where its member key
// starts when the value is an object member. Where a key occurs twice in one object, names the
// last occurrence, which is the one nlohmann_json keeps. Returns nullopt when the pointer names
// nothing. REQUIRES: `text` is the document the pointer refers to.
std::optional<std::size_t> find_value_offset(std::string_view text, const nlohmann::json::json_pointer& pointer);

// Returns the field being read when a scan of `text` reaches `offset`, written as in error
// messages (`architectures.resnet50.tags[2].crop_pct`); empty at the top level. Works on
// malformed or truncated text, which is where a parser stopped.
std::string field_at_offset(std::string_view text, std::size_t offset);

} // namespace timmd::registry

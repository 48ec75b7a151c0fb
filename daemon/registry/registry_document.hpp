// Parsing the text of a registry file into JSON, with errors that locate the fault.
#pragma once

#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace timmd::registry {

// Parses `text`. Returns `invalid_request` for invalid JSON and for a key that occurs twice in
// one object, naming `source_name`, the line, the column and the field in the message and in
// details {file, line, column, field}.
proto::Result<nlohmann::json> parse_registry_document(std::string_view text, std::string_view source_name);

// Returns an `invalid_request` error about the registry file `source`, whose details get
// `file` added.
proto::Error registry_file_error(std::string_view source, const std::string& problem, nlohmann::json details);

} // namespace timmd::registry

// Typed access to the fields of a parsed registry file, with errors that name the file, the
// line, the column and the field.
#pragma once

#include "daemon/registry/pretrained_cfg.hpp"
#include "proto/error.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace timmd::registry {

// The path of a field, built on the stack while walking a document, so the walk allocates
// nothing until an error is reported. REQUIRES: the parent outlives the child.
class FieldPath {
public:
  FieldPath() = default;

  FieldPath member(std::string_view key) const { return FieldPath(this, key, 0, false); }
  FieldPath element(std::size_t index) const { return FieldPath(this, {}, index, true); }

  // `architectures.resnet50.tags[2].crop_pct`; empty for the document itself.
  std::string field() const;
  nlohmann::json::json_pointer pointer() const;

private:
  FieldPath(const FieldPath* parent, std::string_view key, std::size_t index, bool is_index)
      : m_parent(parent), m_key(key), m_index(index), m_is_index(is_index) {}

  const FieldPath* m_parent = nullptr;
  std::string_view m_key;
  std::size_t m_index = 0;
  bool m_is_index = false;
};

// A registry file being read: its name for messages and its text for locating fields.
class FieldReader {
public:
  FieldReader(std::string_view source_name, std::string_view text) : m_source(source_name), m_text(text) {}

  // Returns an `invalid_request` error about the field at `path`, located in the text.
  proto::Error error(const FieldPath& path, const std::string& problem) const;

  // Each reader checks the JSON type (and range where stated) of `value`.
  proto::Result<std::string> string(const nlohmann::json& value, const FieldPath& path) const;
  // Accepts null as nullopt.
  proto::Result<std::optional<std::string>> optional_string(const nlohmann::json& value, const FieldPath& path) const;
  proto::Result<bool> boolean(const nlohmann::json& value, const FieldPath& path) const;
  // An integer in [minimum, maximum].
  proto::Result<int> integer(const nlohmann::json& value, const FieldPath& path, int minimum, int maximum) const;
  // A number greater than zero.
  proto::Result<double> positive_number(const nlohmann::json& value, const FieldPath& path) const;
  proto::Result<std::optional<double>> optional_positive_number(const nlohmann::json& value,
                                                                const FieldPath& path) const;
  // A list of N positive integers; accepts null as nullopt where optional.
  template <std::size_t N>
  proto::Result<std::array<int, N>> sizes(const nlohmann::json& value, const FieldPath& path) const;
  template <std::size_t N>
  proto::Result<std::optional<std::array<int, N>>> optional_sizes(const nlohmann::json& value,
                                                                  const FieldPath& path) const;
  // A non-empty list of numbers.
  proto::Result<std::vector<double>> numbers(const nlohmann::json& value, const FieldPath& path) const;
  // A string, or a list of strings.
  proto::Result<ModuleNames> module_names(const nlohmann::json& value, const FieldPath& path) const;
  // Checks that `value` is an object.
  proto::Result<void> object(const nlohmann::json& value, const FieldPath& path) const;

  std::string_view source() const { return m_source; }
  std::string_view text() const { return m_text; }

private:
  proto::Error type_error(const nlohmann::json& value, const FieldPath& path, std::string_view expected) const;

  std::string_view m_source;
  std::string_view m_text;
};

extern template proto::Result<std::array<int, 2>> FieldReader::sizes<2>(const nlohmann::json&, const FieldPath&) const;
extern template proto::Result<std::array<int, 3>> FieldReader::sizes<3>(const nlohmann::json&, const FieldPath&) const;
extern template proto::Result<std::optional<std::array<int, 2>>> FieldReader::optional_sizes<2>(const nlohmann::json&,
                                                                                                const FieldPath&) const;
extern template proto::Result<std::optional<std::array<int, 3>>> FieldReader::optional_sizes<3>(const nlohmann::json&,
                                                                                                const FieldPath&) const;

} // namespace timmd::registry

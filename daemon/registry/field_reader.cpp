#include "daemon/registry/field_reader.hpp"

#include "daemon/registry/json_location.hpp"

#include <algorithm>
#include <limits>

namespace timmd::registry {
namespace {

constexpr std::size_t k_max_quoted_value = 60;
constexpr int k_max_size = 1 << 20;

std::string quote_value(const nlohmann::json& value) {
  auto text = value.dump();
  if (text.size() > k_max_quoted_value) {
    text = text.substr(0, k_max_quoted_value) + "...";
  }
  return text;
}

} // namespace

std::string FieldPath::field() const {
  std::vector<const FieldPath*> chain;
  for (const auto* p = this; p != nullptr && p->m_parent != nullptr; p = p->m_parent) {
    chain.push_back(p);
  }
  std::string text;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if ((*it)->m_is_index) {
      // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for "[" + std::string.
      text += '[';
      text += std::to_string((*it)->m_index);
      text += ']';
      continue;
    }
    if (!text.empty()) {
      text += '.';
    }
    text += (*it)->m_key;
  }
  return text;
}

nlohmann::json::json_pointer FieldPath::pointer() const {
  if (m_parent == nullptr) {
    return nlohmann::json::json_pointer();
  }
  auto parent = m_parent->pointer();
  if (m_is_index) {
    return parent / m_index;
  }
  return parent / std::string(m_key);
}

proto::Error FieldReader::error(const FieldPath& path, const std::string& problem) const {
  // A missing field is reported at the object that lacks it.
  auto pointer = path.pointer();
  auto offset = find_value_offset(m_text, pointer);
  while (!offset && !pointer.empty()) {
    pointer = pointer.parent_pointer();
    offset = find_value_offset(m_text, pointer);
  }
  const auto position = position_at(m_text, offset.value_or(0));
  const auto field = path.field();
  return proto::make_error(
      proto::Errc::invalid_request,
      "invalid registry file '" + std::string(m_source) + "' at line " + std::to_string(position.line) + ", column " +
          std::to_string(position.column) + (field.empty() ? std::string() : ", field '" + field + "'") + ": " +
          problem,
      {{"file", std::string(m_source)}, {"line", position.line}, {"column", position.column}, {"field", field}});
}

proto::Error FieldReader::type_error(const nlohmann::json& value, const FieldPath& path,
                                     std::string_view expected) const {
  return error(path, "expected " + std::string(expected) + ", found " + std::string(value.type_name()) + " " +
                         quote_value(value));
}

proto::Result<std::string> FieldReader::string(const nlohmann::json& value, const FieldPath& path) const {
  if (!value.is_string()) {
    return type_error(value, path, "a string");
  }
  return value.get<std::string>();
}

proto::Result<std::optional<std::string>> FieldReader::optional_string(const nlohmann::json& value,
                                                                       const FieldPath& path) const {
  if (value.is_null()) {
    return std::optional<std::string>{};
  }
  if (!value.is_string()) {
    return type_error(value, path, "a string or null");
  }
  return std::optional<std::string>(value.get<std::string>());
}

proto::Result<bool> FieldReader::boolean(const nlohmann::json& value, const FieldPath& path) const {
  if (!value.is_boolean()) {
    return type_error(value, path, "true or false");
  }
  return value.get<bool>();
}

proto::Result<int> FieldReader::integer(const nlohmann::json& value, const FieldPath& path, int minimum,
                                        int maximum) const {
  const auto range = "an integer from " + std::to_string(minimum) + " to " + std::to_string(maximum);
  if (!value.is_number_integer()) {
    return type_error(value, path, range);
  }
  const auto number = value.get<std::int64_t>();
  if (number < minimum || number > maximum) {
    return type_error(value, path, range);
  }
  return static_cast<int>(number);
}

proto::Result<double> FieldReader::positive_number(const nlohmann::json& value, const FieldPath& path) const {
  if (!value.is_number() || value.get<double>() <= 0.0) {
    return type_error(value, path, "a number greater than 0");
  }
  return value.get<double>();
}

proto::Result<std::optional<double>> FieldReader::optional_positive_number(const nlohmann::json& value,
                                                                           const FieldPath& path) const {
  if (value.is_null()) {
    return std::optional<double>{};
  }
  auto number = positive_number(value, path);
  if (!number) {
    return number.error();
  }
  return std::optional<double>(*number);
}

template <std::size_t N>
proto::Result<std::array<int, N>> FieldReader::sizes(const nlohmann::json& value, const FieldPath& path) const {
  const auto expected = "a list of " + std::to_string(N) + " positive integers";
  if (!value.is_array() || value.size() != N) {
    return type_error(value, path, expected);
  }
  std::array<int, N> result{};
  for (std::size_t i = 0; i < N; ++i) {
    auto item = integer(value[i], path.element(i), 1, k_max_size);
    if (!item) {
      return item.error();
    }
    result[i] = *item;
  }
  return result;
}

template <std::size_t N>
proto::Result<std::optional<std::array<int, N>>> FieldReader::optional_sizes(const nlohmann::json& value,
                                                                             const FieldPath& path) const {
  if (value.is_null()) {
    return std::optional<std::array<int, N>>{};
  }
  auto result = sizes<N>(value, path);
  if (!result) {
    return result.error();
  }
  return std::optional<std::array<int, N>>(*result);
}

template proto::Result<std::array<int, 2>> FieldReader::sizes<2>(const nlohmann::json&, const FieldPath&) const;
template proto::Result<std::array<int, 3>> FieldReader::sizes<3>(const nlohmann::json&, const FieldPath&) const;
template proto::Result<std::optional<std::array<int, 2>>> FieldReader::optional_sizes<2>(const nlohmann::json&,
                                                                                         const FieldPath&) const;
template proto::Result<std::optional<std::array<int, 3>>> FieldReader::optional_sizes<3>(const nlohmann::json&,
                                                                                         const FieldPath&) const;

proto::Result<std::vector<double>> FieldReader::numbers(const nlohmann::json& value, const FieldPath& path) const {
  if (!value.is_array() || value.empty()) {
    return type_error(value, path, "a non-empty list of numbers");
  }
  std::vector<double> result;
  result.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_number()) {
      return type_error(value[i], path.element(i), "a number");
    }
    result.push_back(value[i].get<double>());
  }
  return result;
}

proto::Result<ModuleNames> FieldReader::module_names(const nlohmann::json& value, const FieldPath& path) const {
  if (value.is_string()) {
    return ModuleNames{{value.get<std::string>()}, false};
  }
  if (!value.is_array()) {
    return type_error(value, path, "a module name or a list of module names");
  }
  ModuleNames names{{}, true};
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto name = string(value[i], path.element(i));
    if (!name) {
      return name.error();
    }
    names.names.push_back(std::move(*name));
  }
  return names;
}

proto::Result<void> FieldReader::object(const nlohmann::json& value, const FieldPath& path) const {
  if (!value.is_object()) {
    return type_error(value, path, "an object");
  }
  return {};
}

} // namespace timmd::registry

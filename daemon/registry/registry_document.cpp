#include "daemon/registry/registry_document.hpp"

#include "daemon/registry/json_location.hpp"

#include <set>
#include <vector>

namespace timmd::registry {
namespace {

// Counts the object keys in JSON text, that is each string literal followed by ':'. nlohmann_json
// collapses duplicate keys to the last one, so fewer members than keys reveals a duplicate. One
// pass over the text costs less than a parse with a callback.
std::size_t count_keys(std::string_view text) {
  std::size_t keys = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '"') {
      continue;
    }
    for (++i; i < text.size() && text[i] != '"'; ++i) {
      if (text[i] == '\\') {
        ++i;
      }
    }
    std::size_t next = i + 1;
    while (next < text.size() &&
           (text[next] == ' ' || text[next] == '\n' || text[next] == '\r' || text[next] == '\t')) {
      ++next;
    }
    if (next < text.size() && text[next] == ':') {
      ++keys;
    }
    i = next - 1;
  }
  return keys;
}

std::size_t count_members(const nlohmann::json& value) {
  std::size_t members = 0;
  if (value.is_object()) {
    members += value.size();
  }
  if (value.is_structured()) {
    for (const auto& child : value) {
      members += count_members(child);
    }
  }
  return members;
}

// Returns the offset of the first key that repeats a key of its object, found by a fresh scan.
std::optional<std::size_t> find_duplicate_key(std::string_view text) {
  std::vector<std::set<std::string>> objects;
  std::size_t depth = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '{') {
      objects.resize(++depth);
      objects.back().clear();
    } else if (c == '}') {
      --depth;
    } else if (c == '"') {
      const std::size_t start = i;
      std::string key;
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) {
          ++i;
        }
        key += text[i];
      }
      std::size_t next = i + 1;
      while (next < text.size() &&
             (text[next] == ' ' || text[next] == '\n' || text[next] == '\r' || text[next] == '\t')) {
        ++next;
      }
      const bool is_key = next < text.size() && text[next] == ':';
      if (is_key && depth > 0 && !objects[depth - 1].insert(key).second) {
        return start;
      }
    }
  }
  return std::nullopt;
}

} // namespace

proto::Error registry_file_error(std::string_view source, const std::string& problem, nlohmann::json details) {
  details["file"] = std::string(source);
  return proto::make_error(proto::Errc::invalid_request,
                           "invalid registry file '" + std::string(source) + "': " + problem, std::move(details));
}

proto::Result<nlohmann::json> parse_registry_document(std::string_view text, std::string_view source) {
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // `byte` counts from 1 and names the byte where parsing stopped.
    const std::size_t offset = e.byte > 0 ? e.byte - 1 : 0;
    const auto position = position_at(text, offset);
    const auto field = field_at_offset(text, offset);
    std::string reason = e.what();
    if (const auto colon = reason.find(": "); colon != std::string::npos) {
      reason = reason.substr(colon + 2);
    }
    return registry_file_error(source,
                               "invalid JSON at line " + std::to_string(position.line) + ", column " +
                                   std::to_string(position.column) +
                                   (field.empty() ? "" : ", in field '" + field + "'") + ": " + reason,
                               {{"line", position.line}, {"column", position.column}, {"field", field}});
  } catch (const nlohmann::json::exception& e) {
    // out_of_range: a number too large for a double. It carries no position.
    return registry_file_error(source, std::string("invalid JSON: ") + e.what(), nlohmann::json::object());
  }

  // nlohmann_json keeps the last of two equal keys. A registry file with one is rejected
  // instead, because the first entry would otherwise be dropped without a word.
  if (count_keys(text) != count_members(document)) {
    const auto offset = find_duplicate_key(text).value_or(0);
    const auto position = position_at(text, offset);
    // A scan that stops just after the key's ':' reports the path including that key.
    const auto colon = text.find(':', offset);
    const auto field = field_at_offset(text, colon == std::string_view::npos ? offset : colon + 1);
    return registry_file_error(source,
                               "duplicate key at line " + std::to_string(position.line) + ", column " +
                                   std::to_string(position.column) + ", field '" + field +
                                   "'; a key may appear once in an object, so merge the two entries",
                               {{"line", position.line}, {"column", position.column}, {"field", field}});
  }
  return proto::Result<nlohmann::json>(boost::system::in_place_value, std::move(document));
}

} // namespace timmd::registry

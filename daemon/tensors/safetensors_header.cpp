#include "daemon/tensors/safetensors_header.hpp"

#include <unordered_set>

namespace timmd::tensors::detail {
namespace {

// Deepest nesting a valid header needs: root object, tensor object, shape array.
constexpr int k_max_depth = 3;

std::string quote_name(std::string_view s) {
  return "\"" + std::string(s.substr(0, 200)) + (s.size() > 200 ? "...\"" : "\"");
}

enum class Field { none, dtype, shape, offsets, other };

// Receives nlohmann's SAX events. Any method returning false stops the parse with `m_error` set.
class HeaderSax {
public:
  using Json = nlohmann::json;

  bool null() { return scalar("null"); }
  bool boolean(bool value) { return scalar(value ? "true" : "false"); }
  bool number_integer(Json::number_integer_t value) { return scalar(std::to_string(value)); }
  bool number_unsigned(Json::number_unsigned_t value) {
    if (m_depth == 3 && (m_field == Field::shape || m_field == Field::offsets)) {
      (m_field == Field::shape ? m_tensor.shape : m_tensor.offsets).push_back(value);
      return true;
    }
    return scalar(std::to_string(value));
  }
  bool number_float(Json::number_float_t value, const std::string&) { return scalar(Json(value).dump()); }
  bool string(std::string& value) {
    if (m_depth == 2 && m_in_metadata) {
      m_header.metadata[m_key] = value;
      return true;
    }
    if (m_depth == 2 && m_field == Field::dtype) {
      m_tensor.dtype = dtype_from_safetensors(value);
      m_tensor.dtype_text = Json(value).dump();
      return true;
    }
    return scalar(Json(value).dump());
  }
  bool binary(Json::binary_t&) { return fail("header contains binary data"); }

  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(std::string& name) {
    if (m_depth == 1) {
      if (!m_root_keys.insert(name).second) {
        return fail("duplicate key " + quote_name(name) + " in the JSON header");
      }
      m_key = name;
      return true;
    }
    if (!m_keys.insert(name).second) {
      return fail("duplicate key " + quote_name(name) + " in the JSON header");
    }
    m_key = name;
    if (!m_in_metadata) {
      m_field = name == "dtype"          ? Field::dtype
                : name == "shape"        ? Field::shape
                : name == "data_offsets" ? Field::offsets
                                         : Field::other;
    }
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    return fail(std::string("header is not valid JSON: ") + e.what());
  }

  RawHeader& header() { return m_header; }
  const std::string& error() const { return m_error; }

private:
  bool fail(std::string message) {
    if (m_error.empty()) {
      m_error = std::move(message);
    }
    return false;
  }

  std::string field_name() const {
    return m_field == Field::shape ? "\"shape\"" : "\"data_offsets\"";
  }

  // A scalar value at the current position; `text` is its JSON spelling.
  bool scalar(const std::string& text) {
    if (m_depth == 1) {
      return fail(m_key == "__metadata__" ? "\"__metadata__\" is not a JSON object"
                                          : "tensor " + quote_name(m_key) + " is not a JSON object");
    }
    if (m_depth == 2 && m_in_metadata) {
      return fail("\"__metadata__\" value of " + quote_name(m_key) + " is " + text +
                  "; metadata values must be strings");
    }
    if (m_depth == 2 && m_field == Field::dtype) {
      m_tensor.dtype_text = text;
      return true;
    }
    if (m_depth == 2 && (m_field == Field::shape || m_field == Field::offsets)) {
      return fail("tensor " + quote_name(m_tensor.name) + ": " + field_name() + " is not an array");
    }
    if (m_depth == 3 && (m_field == Field::shape || m_field == Field::offsets)) {
      return fail("tensor " + quote_name(m_tensor.name) + ": " + field_name() + " holds " + text +
                  ", expected non-negative integers");
    }
    return true;  // Unknown tensor fields are ignored, so writers may add their own.
  }

  bool open(bool object) {
    if (m_depth >= k_max_depth) {
      return fail("nesting deeper than a safetensors header has (" + std::to_string(k_max_depth) +
                  " levels)");
    }
    ++m_depth;
    if (m_depth == 1) {
      return object || fail("header is not a JSON object");
    }
    if (m_depth == 2) {
      if (!object) {
        return fail(m_key == "__metadata__" ? "\"__metadata__\" is not a JSON object"
                                            : "tensor " + quote_name(m_key) + " is not a JSON object");
      }
      m_in_metadata = m_key == "__metadata__";
      m_keys.clear();
      m_field = Field::none;
      m_tensor = RawTensor{};
      m_tensor.name = m_key;
      return true;
    }
    if (m_in_metadata) {
      return fail("\"__metadata__\" value of " + quote_name(m_key) +
                  " is not a string; metadata values must be strings");
    }
    if (m_field == Field::dtype) {
      m_tensor.dtype_text = object ? "{...}" : "[...]";
    }
    if (object && (m_field == Field::shape || m_field == Field::offsets)) {
      return fail("tensor " + quote_name(m_tensor.name) + ": " + field_name() + " is not an array");
    }
    m_tensor.has_shape = m_tensor.has_shape || m_field == Field::shape;
    m_tensor.has_offsets = m_tensor.has_offsets || m_field == Field::offsets;
    return true;
  }

  bool close() {
    if (m_depth == 2 && !m_in_metadata) {
      m_tensor.has_dtype = m_keys.contains("dtype");
      m_header.tensors.push_back(std::move(m_tensor));
      m_tensor = RawTensor{};
    }
    if (m_depth == 2) {
      m_in_metadata = false;
    }
    --m_depth;
    return true;
  }

  RawHeader m_header;
  RawTensor m_tensor;
  std::string m_error;
  std::string m_key;
  std::unordered_set<std::string> m_root_keys;
  std::unordered_set<std::string> m_keys;
  Field m_field = Field::none;
  bool m_in_metadata = false;
  int m_depth = 0;
};

} // namespace

std::optional<RawHeader> parse_raw_header(std::string_view text, std::string& error) {
  HeaderSax sax;
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text, &sax);
  } catch (const nlohmann::json::exception& e) {
    error = std::string("header is not valid JSON: ") + e.what();
    return std::nullopt;
  }
  if (!ok) {
    error = sax.error();
    return std::nullopt;
  }
  return std::move(sax.header());
}

std::string to_json_text(const std::vector<std::uint64_t>& numbers) {
  std::string text = "[";
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    text += (i == 0 ? "" : ",") + std::to_string(numbers[i]);
  }
  return text + "]";
}

} // namespace timmd::tensors::detail

#include "daemon/registry/json_location.hpp"

#include <algorithm>
#include <functional>
#include <vector>

namespace timmd::registry {
namespace {

struct PathElement {
  std::string key;
  bool is_index = false;
};

std::string render_field(const std::vector<PathElement>& path) {
  std::string field;
  for (const auto& element : path) {
    if (element.is_index) {
      field += '[';
      field += element.key;
      field += ']';
      continue;
    }
    if (!field.empty()) {
      field += '.';
    }
    field += element.key;
  }
  return field;
}

// A forgiving recursive scan over JSON text. It reports each value with its path and stops
// quietly at `m_limit` or at the first byte that cannot continue the document.
class Scanner {
public:
  using Visitor = std::function<void(const std::vector<PathElement>&, std::size_t)>;

  Scanner(std::string_view text, std::size_t limit, Visitor visitor)
      : m_text(text), m_limit(std::min(limit, text.size())), m_visitor(std::move(visitor)) {}

  void run() {
    skip_whitespace();
    scan_value(m_pos);
  }

  // The path open when the scan stopped.
  const std::vector<PathElement>& path() const { return m_path; }

private:
  bool at_end() const { return m_pos >= m_limit; }
  char peek() const { return m_text[m_pos]; }

  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) {
      ++m_pos;
    }
  }

  // Scans a string literal and returns its content; escapes other than \uXXXX are decoded,
  // which is enough to compare the keys of a registry file.
  std::optional<std::string> scan_string() {
    ++m_pos;
    std::string content;
    while (!at_end()) {
      const char c = m_text[m_pos++];
      if (c == '"') {
        return content;
      }
      if (c != '\\') {
        content += c;
        continue;
      }
      if (at_end()) {
        break;
      }
      const char escaped = m_text[m_pos++];
      switch (escaped) {
      case 'n':
        content += '\n';
        break;
      case 't':
        content += '\t';
        break;
      case 'r':
        content += '\r';
        break;
      case 'b':
        content += '\b';
        break;
      case 'f':
        content += '\f';
        break;
      default:
        content += escaped;
        break;
      }
    }
    return std::nullopt;
  }

  // Returns false when the scan must stop.
  bool scan_value(std::size_t report_at) {
    if (at_end()) {
      return false;
    }
    m_visitor(m_path, report_at);
    const char c = peek();
    if (c == '{') {
      return scan_object();
    }
    if (c == '[') {
      return scan_array();
    }
    if (c == '"') {
      return scan_string().has_value();
    }
    const std::size_t start = m_pos;
    while (!at_end() && std::string_view(",]} \t\r\n").find(peek()) == std::string_view::npos) {
      ++m_pos;
    }
    return m_pos > start;
  }

  bool scan_object() {
    ++m_pos;
    while (true) {
      skip_whitespace();
      if (at_end()) {
        return false;
      }
      if (peek() == '}') {
        ++m_pos;
        return true;
      }
      if (peek() == ',') {
        ++m_pos;
        continue;
      }
      if (peek() != '"') {
        return false;
      }
      const std::size_t key_start = m_pos;
      auto key = scan_string();
      if (!key) {
        return false;
      }
      m_path.push_back({std::move(*key), false});
      skip_whitespace();
      if (at_end() || peek() != ':') {
        return false;
      }
      ++m_pos;
      skip_whitespace();
      if (!scan_value(key_start)) {
        return false;
      }
      m_path.pop_back();
    }
  }

  bool scan_array() {
    ++m_pos;
    std::size_t index = 0;
    while (true) {
      skip_whitespace();
      if (at_end()) {
        return false;
      }
      if (peek() == ']') {
        ++m_pos;
        return true;
      }
      if (peek() == ',') {
        ++m_pos;
        continue;
      }
      m_path.push_back({std::to_string(index++), true});
      if (!scan_value(m_pos)) {
        return false;
      }
      m_path.pop_back();
    }
  }

  std::string_view m_text;
  std::size_t m_limit;
  Visitor m_visitor;
  std::size_t m_pos = 0;
  std::vector<PathElement> m_path;
};

} // namespace

TextPosition position_at(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  TextPosition position;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++position.line;
      position.column = 1;
    } else {
      ++position.column;
    }
  }
  return position;
}

std::optional<std::size_t> find_value_offset(std::string_view text, const nlohmann::json::json_pointer& pointer) {
  std::vector<std::string> target;
  for (auto p = pointer; !p.empty(); p = p.parent_pointer()) {
    target.push_back(p.back());
  }
  std::reverse(target.begin(), target.end());

  std::optional<std::size_t> found;
  Scanner scanner(text, text.size(), [&](const std::vector<PathElement>& path, std::size_t offset) {
    const bool same = path.size() == target.size() &&
                      std::equal(path.begin(), path.end(), target.begin(),
                                 [](const PathElement& a, const std::string& b) { return a.key == b; });
    if (same) {
      found = offset;
    }
  });
  scanner.run();
  return found;
}

std::string field_at_offset(std::string_view text, std::size_t offset) {
  Scanner scanner(text, offset, [](const std::vector<PathElement>&, std::size_t) {});
  scanner.run();
  return render_field(scanner.path());
}

} // namespace timmd::registry

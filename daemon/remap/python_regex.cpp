#include "daemon/remap/python_regex.hpp"

#include <cctype>
#include <charconv>
#include <algorithm>
#include <functional>
#include <optional>
#include <vector>

namespace timmd::remap {
namespace {

using proto::Errc;

constexpr unsigned long long k_max_repetition = 1000;

// Gives the text of group N, or an error when the group does not exist.
using GroupText = std::function<proto::Result<std::string>(int)>;

proto::Error pattern_error(std::string_view pattern, const std::string& what) {
  return proto::make_error(Errc::invalid_request, "regular expression '" + std::string(pattern) + "': " + what,
                           {{"pattern", std::string(pattern)}});
}

proto::Error template_error(const std::string& replacement, const std::string& what) {
  return proto::make_error(Errc::invalid_request, "replacement '" + replacement + "': " + what,
                           {{"replacement", replacement}});
}

// Parses a group reference after a backslash: `\12` or `\g<name>` / `\g<3>`. Advances `pos`
// past it and returns the group number.
proto::Result<int> parse_group_reference(const std::string& text, std::size_t& pos,
                                         const std::map<std::string, int>& names) {
  if (text[pos] == 'g') {
    const auto close = text.find('>', pos);
    if (pos + 1 >= text.size() || text[pos + 1] != '<' || close == std::string::npos) {
      return template_error(text, "'\\g' must be followed by <number> or <name>");
    }
    const auto inner = text.substr(pos + 2, close - pos - 2);
    pos = close + 1;
    int number = 0;
    const auto [end, ec] = std::from_chars(inner.data(), inner.data() + inner.size(), number);
    if (ec == std::errc() && end == inner.data() + inner.size()) {
      return number;
    }
    const auto named = names.find(inner);
    if (named == names.end()) {
      return template_error(text, "unknown group name '" + inner + "'");
    }
    return named->second;
  }
  int number = 0;
  std::size_t digits = 0;
  while (pos < text.size() && digits < 2 && std::isdigit(static_cast<unsigned char>(text[pos])) != 0) {
    number = number * 10 + (text[pos] - '0');
    ++pos;
    ++digits;
  }
  return number;
}

// Recursive-descent evaluation of a `{=EXPR}` body with Python integer semantics.
class Expression {
public:
  Expression(const std::string& text, const std::string& whole, const std::map<std::string, int>& names,
             const GroupText& group)
      : m_text(text), m_whole(whole), m_names(names), m_group(group) {}

  proto::Result<long long> evaluate() {
    auto value = sum();
    if (!value) {
      return value;
    }
    skip_spaces();
    if (m_pos != m_text.size()) {
      return template_error(m_whole, "unexpected '" + m_text.substr(m_pos) + "' in {=" + m_text + "}");
    }
    return value;
  }

private:
  void skip_spaces() {
    while (m_pos < m_text.size() && m_text[m_pos] == ' ') {
      ++m_pos;
    }
  }

  proto::Result<long long> sum() {
    auto left = product();
    while (left) {
      skip_spaces();
      if (m_pos >= m_text.size() || (m_text[m_pos] != '+' && m_text[m_pos] != '-')) {
        break;
      }
      const char op = m_text[m_pos++];
      auto right = product();
      if (!right) {
        return right;
      }
      left = op == '+' ? *left + *right : *left - *right;
    }
    return left;
  }

  proto::Result<long long> product() {
    auto left = factor();
    while (left) {
      skip_spaces();
      std::string op;
      if (m_text.compare(m_pos, 2, "//") == 0) {
        op = "//";
      } else if (m_pos < m_text.size() && (m_text[m_pos] == '*' || m_text[m_pos] == '%')) {
        op = std::string(1, m_text[m_pos]);
      } else {
        break;
      }
      m_pos += op.size();
      auto right = factor();
      if (!right) {
        return right;
      }
      if (op == "*") {
        left = *left * *right;
        continue;
      }
      if (*right == 0) {
        return template_error(m_whole, "division by zero in {=" + m_text + "}");
      }
      // Python floors the quotient and gives the remainder the divisor's sign.
      long long quotient = *left / *right;
      long long remainder = *left % *right;
      if (remainder != 0 && ((remainder < 0) != (*right < 0))) {
        --quotient;
        remainder += *right;
      }
      left = op == "//" ? quotient : remainder;
    }
    return left;
  }

  proto::Result<long long> factor() {
    skip_spaces();
    if (m_pos >= m_text.size()) {
      return template_error(m_whole, "incomplete expression {=" + m_text + "}");
    }
    const char c = m_text[m_pos];
    if (c == '-') {
      ++m_pos;
      auto inner = factor();
      return inner ? proto::Result<long long>(-*inner) : inner;
    }
    if (c == '(') {
      ++m_pos;
      auto inner = sum();
      skip_spaces();
      if (!inner) {
        return inner;
      }
      if (m_pos >= m_text.size() || m_text[m_pos] != ')') {
        return template_error(m_whole, "missing ')' in {=" + m_text + "}");
      }
      ++m_pos;
      return inner;
    }
    if (c == '\\') {
      ++m_pos;
      auto group = parse_group_reference(m_text, m_pos, m_names);
      if (!group) {
        return group.error();
      }
      auto text = m_group(*group);
      if (!text) {
        return text.error();
      }
      return parse_integer(*text, "group " + std::to_string(*group));
    }
    std::size_t end = m_pos;
    while (end < m_text.size() && std::isdigit(static_cast<unsigned char>(m_text[end])) != 0) {
      ++end;
    }
    if (end == m_pos) {
      return template_error(m_whole, "unexpected '" + std::string(1, c) + "' in {=" + m_text + "}");
    }
    auto value = parse_integer(m_text.substr(m_pos, end - m_pos), "literal");
    m_pos = end;
    return value;
  }

  proto::Result<long long> parse_integer(const std::string& digits, const std::string& what) {
    long long value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size()) {
      return template_error(m_whole, what + " is '" + digits + "', not an integer, in {=" + m_text + "}");
    }
    return value;
  }

  const std::string& m_text;
  const std::string& m_whole;
  const std::map<std::string, int>& m_names;
  const GroupText& m_group;
  std::size_t m_pos = 0;
};

proto::Result<std::string> expand(const std::string& replacement, const std::map<std::string, int>& names,
                                  const GroupText& group) {
  std::string out;
  std::size_t pos = 0;
  while (pos < replacement.size()) {
    const char c = replacement[pos];
    if (c == '{' && pos + 1 < replacement.size() && replacement[pos + 1] == '=') {
      const auto close = replacement.find('}', pos);
      if (close == std::string::npos) {
        return template_error(replacement, "'{=' without a closing '}'");
      }
      const auto body = replacement.substr(pos + 2, close - pos - 2);
      auto value = Expression(body, replacement, names, group).evaluate();
      if (!value) {
        return value.error();
      }
      out += std::to_string(*value);
      pos = close + 1;
      continue;
    }
    if (c != '\\') {
      out += c;
      ++pos;
      continue;
    }
    ++pos;
    if (pos >= replacement.size()) {
      return template_error(replacement, "a trailing backslash");
    }
    const char next = replacement[pos];
    if (next == 'g' || std::isdigit(static_cast<unsigned char>(next)) != 0) {
      auto number = parse_group_reference(replacement, pos, names);
      if (!number) {
        return number.error();
      }
      auto text = group(*number);
      if (!text) {
        return text.error();
      }
      out += *text;
      continue;
    }
    // Python's escapes for the characters a key could need; others keep the backslash.
    static const std::map<char, char> escapes = {{'\\', '\\'}, {'n', '\n'}, {'t', '\t'}};
    const auto escape = escapes.find(next);
    out += escape != escapes.end() ? std::string(1, escape->second) : std::string{'\\', next};
    ++pos;
  }
  return out;
}

// Rejects what std::regex runs badly: repetition counts above k_max_repetition (libstdc++
// expands them into copies, and its parser overflows on huge ones), a quantifier on a
// quantifier (`a**`, an error in Python too), and a repeated group that contains a repetition
// (`(a*)*`), which backtracks in exponential time. Escapes and classes are skipped.
proto::Result<void> check_repetition(std::string_view pattern) {
  enum class Previous { none, atom, quantifier, lazy, group };
  Previous previous = Previous::none;
  bool closed_group_repeats = false;
  std::vector<bool> group_repeats{false};
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      ++i;
      previous = Previous::atom;
      continue;
    }
    if (c == '[') {
      ++i;
      if (i < pattern.size() && pattern[i] == '^') {
        ++i;
      }
      if (i < pattern.size() && pattern[i] == ']') {
        ++i;
      }
      while (i < pattern.size() && pattern[i] != ']') {
        i += pattern[i] == '\\' ? 2U : 1U;
      }
      previous = Previous::atom;
      continue;
    }
    bool unbounded = c == '*' || c == '+';
    bool quantifier = unbounded || c == '?';
    if (c == '{') {
      std::size_t end = i + 1;
      unsigned long long count = 0;
      while (end < pattern.size() && (std::isdigit(static_cast<unsigned char>(pattern[end])) != 0 || pattern[end] == ',')) {
        count = pattern[end] == ',' ? 0 : count * 10 + static_cast<unsigned>(pattern[end] - '0');
        if (count > k_max_repetition) {
          return pattern_error(pattern, "a repetition count above " + std::to_string(k_max_repetition) +
                                            " is not supported");
        }
        ++end;
      }
      if (end < pattern.size() && pattern[end] == '}' && end > i + 1) {
        quantifier = true;
        unbounded = true;
        i = end;
      }
    }
    if (quantifier) {
      if (previous == Previous::quantifier && c == '?') {
        previous = Previous::lazy;
        continue;
      }
      if (previous == Previous::quantifier || previous == Previous::lazy) {
        return pattern_error(pattern, "a quantifier follows another one (multiple repeat)");
      }
      if (unbounded && previous == Previous::group && closed_group_repeats) {
        return pattern_error(pattern, "a repeated group contains a repetition, which can take exponential time; "
                                      "rewrite it without the nesting");
      }
      if (unbounded) {
        group_repeats.back() = true;
      }
      previous = Previous::quantifier;
      continue;
    }
    if (c == '(') {
      group_repeats.push_back(false);
      previous = Previous::none;
      continue;
    }
    if (c == ')' && group_repeats.size() > 1) {
      closed_group_repeats = group_repeats.back();
      group_repeats.pop_back();
      group_repeats.back() = group_repeats.back() || closed_group_repeats;
      previous = Previous::group;
      continue;
    }
    previous = Previous::atom;
  }
  return {};
}

} // namespace

proto::Result<PythonRegex> PythonRegex::compile(std::string_view pattern) {
  if (auto checked = check_repetition(pattern); !checked) {
    return checked.error();
  }
  PythonRegex regex;
  regex.m_pattern = std::string(pattern);
  std::string translated;
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      if (i + 1 >= pattern.size()) {
        return pattern_error(pattern, "a trailing backslash");
      }
      const char next = pattern[++i];
      if (std::isdigit(static_cast<unsigned char>(next)) != 0 && next != '0') {
        // A back reference: Python reads two digits at most (three are an octal escape).
        std::size_t end = i;
        while (end < pattern.size() && std::isdigit(static_cast<unsigned char>(pattern[end])) != 0) {
          ++end;
        }
        const auto digits = pattern.substr(i, end - i);
        if (in_class || digits.size() > 2 || std::stoi(std::string(digits)) > regex.m_groups) {
          return pattern_error(pattern, "'\\" + std::string(digits) +
                                            "' is not a back reference to an earlier group");
        }
        translated += '\\';
        translated += digits;
        i = end - 1;
        continue;
      }
      if (!in_class && next == 'A') {
        translated += '^';
      } else if (!in_class && next == 'Z') {
        translated += '$';
      } else {
        translated += '\\';
        translated += next;
      }
      continue;
    }
    if (in_class) {
      in_class = c != ']';
      translated += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      translated += c;
      // A ']' right after '[' or '[^' is a literal member, as in Python.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') {
        translated += pattern[++i];
      }
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') {
        translated += "\\]";
        ++i;
      }
      continue;
    }
    if (c != '(') {
      translated += c;
      continue;
    }
    const auto rest = pattern.substr(i + 1);
    if (rest.starts_with("?P<")) {
      const auto close = pattern.find('>', i);
      if (close == std::string_view::npos) {
        return pattern_error(pattern, "unterminated group name");
      }
      regex.m_group_names[std::string(pattern.substr(i + 4, close - i - 4))] = ++regex.m_groups;
      translated += '(';
      i = close;
    } else if (rest.starts_with("?P=")) {
      const auto close = pattern.find(')', i);
      if (close == std::string_view::npos) {
        return pattern_error(pattern, "unterminated back reference");
      }
      const auto name = std::string(pattern.substr(i + 4, close - i - 4));
      const auto named = regex.m_group_names.find(name);
      if (named == regex.m_group_names.end()) {
        return pattern_error(pattern, "back reference to unknown group '" + name + "'");
      }
      translated += "(?:\\" + std::to_string(named->second) + ")";
      i = close;
    } else if (rest.starts_with("?:") || rest.starts_with("?=") || rest.starts_with("?!")) {
      translated += '(';
    } else if (rest.starts_with("?")) {
      return pattern_error(pattern, "'(" + std::string(rest.substr(0, 3)) +
                                        "' (look-behind, inline flags or conditionals) is not supported; "
                                        "rewrite the pattern without it");
    } else {
      ++regex.m_groups;
      translated += '(';
    }
  }
  if (in_class) {
    return pattern_error(pattern, "unterminated character class");
  }
  try {
    regex.m_regex = std::regex(translated, std::regex::ECMAScript);
  } catch (const std::regex_error& error) {
    return pattern_error(pattern, std::string("does not compile: ") + error.what());
  }
  return regex;
}

bool PythonRegex::search(const std::string& text) const {
  return std::regex_search(text, m_regex);
}

proto::Result<std::string> PythonRegex::sub(const std::string& replacement, const std::string& text, int count) const {
  std::string out;
  auto begin = text.cbegin();
  int done = 0;
  for (std::sregex_iterator it(text.cbegin(), text.cend(), m_regex), end; it != end; ++it) {
    if (count > 0 && done == count) {
      break;
    }
    const auto& match = *it;
    out.append(begin, match[0].first);
    const GroupText group = [&](int number) -> proto::Result<std::string> {
      if (number < 0 || number > m_groups) {
        return template_error(replacement, "group " + std::to_string(number) + " does not exist in '" +
                                               m_pattern + "'");
      }
      return match[static_cast<std::size_t>(number)].str();
    };
    auto expanded = expand(replacement, m_group_names, group);
    if (!expanded) {
      return expanded.error();
    }
    out += *expanded;
    begin = match[0].second;
    ++done;
  }
  out.append(begin, text.cend());
  return out;
}

proto::Result<void> PythonRegex::check_template(const std::string& replacement) const {
  const GroupText group = [&](int number) -> proto::Result<std::string> {
    if (number < 0 || number > m_groups) {
      return template_error(replacement, "group " + std::to_string(number) + " does not exist in '" + m_pattern +
                                             "'");
    }
    return std::string("0");
  };
  auto expanded = expand(replacement, m_group_names, group);
  if (!expanded) {
    return expanded.error();
  }
  return {};
}

} // namespace timmd::remap

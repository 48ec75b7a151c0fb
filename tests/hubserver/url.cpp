#include "tests/hubserver/url.hpp"

#include <algorithm>
#include <cctype>

namespace timmd::testhub {

namespace {

int hex_value(char digit) {
  if (digit >= '0' && digit <= '9') {
    return digit - '0';
  }
  if (digit >= 'a' && digit <= 'f') {
    return digit - 'a' + 10;
  }
  if (digit >= 'A' && digit <= 'F') {
    return digit - 'A' + 10;
  }
  return -1;
}

bool iequals(std::string_view left, std::string_view right) {
  return std::ranges::equal(left, right, [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
}

} // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  std::string decoded;
  decoded.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      decoded.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) {
      return std::nullopt;
    }
    const int high = hex_value(text[i + 1]);
    const int low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) {
      return std::nullopt;
    }
    decoded.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return decoded;
}

std::string percent_encode(std::string_view text, bool keep_slash) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string encoded;
  encoded.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = std::isalnum(byte) != 0 || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      encoded.push_back(c);
    } else {
      encoded.push_back('%');
      encoded.push_back(k_hex[byte >> 4U]);
      encoded.push_back(k_hex[byte & 0x0FU]);
    }
  }
  return encoded;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  for (;;) {
    const auto end = text.find(separator, start);
    if (end == std::string_view::npos) {
      pieces.push_back(text.substr(start));
      return pieces;
    }
    pieces.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

QueryParameters::QueryParameters(std::string_view query) {
  if (query.empty()) {
    return;
  }
  for (const auto piece : split(query, '&')) {
    if (piece.empty()) {
      continue;
    }
    const auto equals = piece.find('=');
    auto name = std::string(piece.substr(0, equals));
    auto value = equals == std::string_view::npos ? std::string() : std::string(piece.substr(equals + 1));
    std::ranges::replace(name, '+', ' ');
    std::ranges::replace(value, '+', ' ');
    m_items.emplace_back(percent_decode(name).value_or(name), percent_decode(value).value_or(value));
  }
}

std::optional<std::string> QueryParameters::get(std::string_view name) const {
  for (const auto& [key, value] : m_items) {
    if (key == name) {
      return value;
    }
  }
  return std::nullopt;
}

bool QueryParameters::flag(std::string_view name) const {
  const auto value = get(name);
  return value && (iequals(*value, "true") || *value == "1");
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative matcher with one backtrack point: on a mismatch, let the last `*` absorb one
  // more character.
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

} // namespace timmd::testhub

#include "tests/hubserver/byte_range.hpp"

#include <charconv>
#include <optional>

namespace timmd::testhub {

namespace {

std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [pointer, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || pointer != end) {
    return std::nullopt;
  }
  return value;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

} // namespace

ByteRangeResult parse_byte_range(std::string_view header, std::uint64_t size) {
  using Kind = ByteRangeResult::Kind;
  header = trim(header);
  if (!header.starts_with("bytes=")) {
    return {};
  }
  const auto spec = trim(header.substr(6));
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos || spec.find(',') != std::string_view::npos) {
    return {};
  }
  const auto first_text = trim(spec.substr(0, dash));
  const auto last_text = trim(spec.substr(dash + 1));

  if (first_text.empty()) {
    const auto suffix = parse_number(last_text);
    if (!suffix) {
      return {};
    }
    if (*suffix == 0 || size == 0) {
      return {Kind::unsatisfiable, 0, 0};
    }
    const auto length = *suffix < size ? *suffix : size;
    return {Kind::partial, size - length, size - 1};
  }

  const auto first = parse_number(first_text);
  if (!first) {
    return {};
  }
  std::uint64_t last = size == 0 ? 0 : size - 1;
  if (!last_text.empty()) {
    const auto parsed_last = parse_number(last_text);
    if (!parsed_last || *parsed_last < *first) {
      return {};
    }
    last = *parsed_last < last ? *parsed_last : last;
  }
  if (*first >= size) {
    return {Kind::unsatisfiable, 0, 0};
  }
  return {Kind::partial, *first, last};
}

} // namespace timmd::testhub

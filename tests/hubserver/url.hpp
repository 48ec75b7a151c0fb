// URL pieces as the Hub clients send them: percent-encoding, query strings, glob patterns.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace timmd::testhub {

// Decodes %XX escapes (and nothing else: `+` stays `+`, as in a URL path). Returns nullopt on a
// truncated or non-hex escape.
std::optional<std::string> percent_decode(std::string_view text);

// Encodes every byte outside the RFC 3986 unreserved set. `keep_slash` leaves `/` as it is,
// as Python's quote() does by default.
std::string percent_encode(std::string_view text, bool keep_slash);

// Splits `text` at every `separator`, keeping empty pieces.
std::vector<std::string_view> split(std::string_view text, char separator);

// A query string as ordered (name, value) pairs, decoded. A `+` in a query means a space.
class QueryParameters {
 public:
  QueryParameters() = default;
  explicit QueryParameters(std::string_view query);

  // Returns the first value of `name`, or nullopt when absent.
  std::optional<std::string> get(std::string_view name) const;

  // Returns true when `name` is present with a value equal to "true" or "1", ignoring case.
  bool flag(std::string_view name) const;

  const std::vector<std::pair<std::string, std::string>>& items() const { return m_items; }

 private:
  std::vector<std::pair<std::string, std::string>> m_items;
};

// Matches `text` against a glob where `*` matches any run of characters, `/` included, and
// `?` matches one character. Every other character matches itself.
bool glob_match(std::string_view pattern, std::string_view text);

} // namespace timmd::testhub

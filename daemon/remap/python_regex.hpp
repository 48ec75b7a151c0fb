// Regular expressions written as timm writes them (Python `re`), run with std::regex.
//
// Rule files copy patterns from timm's filters, so they keep Python's syntax: named groups
// `(?P<name>...)` and `(?P=name)`, `\A` and `\Z`, and replacement templates with `\1`,
// `\g<1>` and `\g<name>`. Constructs ECMAScript cannot run (look-behind, inline flags,
// conditionals) are rejected when the rule file loads rather than matched differently.
//
// Replacement templates add one form Python has no spelling for, because timm computes some
// indices in code: `{=EXPR}` inserts the integer value of EXPR, built from integers, group
// references (`\1`, `\g<name>`), `+ - * // %` (Python's floor semantics) and parentheses.
// `layers.{=\1+1}.downsample` renames `layers.0.downsample` to `layers.1.downsample`.
#pragma once

#include "proto/error.hpp"

#include <map>
#include <regex>
#include <string>
#include <string_view>

namespace timmd::remap {

class PythonRegex {
public:
  // Translates and compiles `pattern`; invalid_request naming the pattern and the construct
  // when it is not supported or does not compile.
  static proto::Result<PythonRegex> compile(std::string_view pattern);

  // re.search: true when the pattern matches anywhere in `text`.
  bool search(const std::string& text) const;

  // re.sub with `count` 0 (every non-overlapping match) or a positive limit. Fails when the
  // template names a missing group or an expression divides by zero.
  proto::Result<std::string> sub(const std::string& replacement, const std::string& text, int count = 0) const;

  // Checks a replacement template against this pattern's groups without applying it.
  proto::Result<void> check_template(const std::string& replacement) const;

  const std::string& pattern() const { return m_pattern; }

private:
  std::string m_pattern;
  std::regex m_regex;
  std::map<std::string, int> m_group_names;
  int m_groups = 0;
};

} // namespace timmd::remap

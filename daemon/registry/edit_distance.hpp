// Levenshtein distance between model names, used to rank suggestions for unknown names.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace timmd::registry {

// Levenshtein distance (insertions, deletions and substitutions each cost 1) between `a` and
// `b`, compared byte by byte.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The character classes that occur in a name: a-z, 0-9, '_', '.', '-' and one class for all
// others. A class that occurs in only one of two names needs at least one edit. One edit (a
// substitution) settles at most two classes, so half the number of such classes is a lower
// bound of the edit distance. That makes a filter of one instruction before the exact one.
class CharacterSet {
public:
  CharacterSet() = default;
  explicit CharacterSet(std::string_view text);

  // Returns a lower bound of edit_distance between the two names.
  std::size_t distance_lower_bound(const CharacterSet& other) const;

private:
  std::uint64_t m_bits = 0;
};

// A pattern prepared once and compared against many texts. Patterns up to 64 bytes use the
// bit-parallel algorithm of Myers (1999) in Hyyrö's formulation, which costs one pass over the
// text. Longer patterns fall back to the quadratic dynamic programme.
class EditDistancePattern {
public:
  explicit EditDistancePattern(std::string_view pattern);

  // Returns edit_distance(pattern, text).
  std::size_t distance_to(std::string_view text) const;

  std::string_view pattern() const { return m_pattern; }

private:
  std::string m_pattern;
  std::array<std::uint64_t, 256> m_match_masks{};
};

} // namespace timmd::registry

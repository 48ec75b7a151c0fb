#include "daemon/registry/edit_distance.hpp"

#include <algorithm>
#include <bit>
#include <numeric>
#include <vector>

namespace timmd::registry {
namespace {

constexpr std::size_t k_word_bits = 64;

std::size_t quadratic_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});

  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const std::size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitution});
      diagonal = above;
    }
  }
  return row[b.size()];
}

unsigned char byte_at(std::string_view text, std::size_t index) {
  return static_cast<unsigned char>(text[index]);
}

std::size_t character_class(char c) {
  if (c >= 'a' && c <= 'z') {
    return static_cast<std::size_t>(c - 'a');
  }
  if (c >= '0' && c <= '9') {
    return 26 + static_cast<std::size_t>(c - '0');
  }
  switch (c) {
  case '_':
    return 36;
  case '.':
    return 37;
  case '-':
    return 38;
  default:
    return 39;
  }
}

} // namespace

CharacterSet::CharacterSet(std::string_view text) {
  for (const char c : text) {
    m_bits |= std::uint64_t{1} << character_class(c);
  }
}

std::size_t CharacterSet::distance_lower_bound(const CharacterSet& other) const {
  return (static_cast<std::size_t>(std::popcount(m_bits ^ other.m_bits)) + 1) / 2;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  return EditDistancePattern(a).distance_to(b);
}

EditDistancePattern::EditDistancePattern(std::string_view pattern) : m_pattern(pattern) {
  if (pattern.size() > k_word_bits) {
    return;
  }
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    m_match_masks[byte_at(pattern, i)] |= std::uint64_t{1} << i;
  }
}

std::size_t EditDistancePattern::distance_to(std::string_view text) const {
  const std::size_t length = m_pattern.size();
  if (length == 0) {
    return text.size();
  }
  if (length > k_word_bits) {
    return quadratic_distance(m_pattern, text);
  }

  // Bit i of the vertical deltas describes row i + 1 of the current column of the
  // (pattern x text) distance matrix. `score` follows the last row.
  const std::uint64_t last_row = std::uint64_t{1} << (length - 1);
  std::uint64_t plus_vertical = length == k_word_bits ? ~std::uint64_t{0} : (last_row << 1) - 1;
  std::uint64_t minus_vertical = 0;
  std::size_t score = length;

  for (std::size_t j = 0; j < text.size(); ++j) {
    const std::uint64_t equal = m_match_masks[byte_at(text, j)];
    const std::uint64_t x_vertical = equal | minus_vertical;
    const std::uint64_t x_horizontal = (((equal & plus_vertical) + plus_vertical) ^ plus_vertical) | equal;
    std::uint64_t plus_horizontal = minus_vertical | ~(x_horizontal | plus_vertical);
    std::uint64_t minus_horizontal = plus_vertical & x_horizontal;

    if ((plus_horizontal & last_row) != 0) {
      ++score;
    } else if ((minus_horizontal & last_row) != 0) {
      --score;
    }

    // Row 0 of the matrix grows by one per text byte, so a +1 delta enters at the bottom bit.
    plus_horizontal = (plus_horizontal << 1) | 1;
    minus_horizontal <<= 1;
    plus_vertical = minus_horizontal | ~(x_vertical | plus_horizontal);
    minus_vertical = plus_horizontal & x_vertical;
  }
  return score;
}

} // namespace timmd::registry

// Counted nouns for messages and command output, so that a count of one reads "1 problem".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace timmd::proto {

// Returns "COUNT SINGULAR" for a count of one and "COUNT PLURAL" otherwise.
inline std::string count_noun(std::uint64_t count, std::string_view singular, std::string_view plural) {
  return std::to_string(count) + " " + std::string(count == 1 ? singular : plural);
}

} // namespace timmd::proto

#include "daemon/registry/suggestions.hpp"

#include "daemon/registry/edit_distance.hpp"

#include <algorithm>
#include <tuple>

namespace timmd::registry {
namespace {

constexpr std::size_t k_min_prefix = 4;

struct Candidate {
  bool close = false;         // within the edit-distance limit
  bool extends_query = false; // the query is a prefix of the name
  std::size_t distance = 0;
  std::size_t prefix = 0;
  std::string_view name;
  std::string suggestion;
};

// Close names first, and among them names that extend the query, because a user who typed a
// prefix ("mobilenetv4") means that family rather than a sibling one edit away.
bool ranks_before(const Candidate& a, const Candidate& b) {
  return std::tuple(!a.close, !a.extends_query, a.distance, b.prefix, a.name.size(), a.name) <
         std::tuple(!b.close, !b.extends_query, b.distance, a.prefix, b.name.size(), b.name);
}

std::size_t common_prefix(std::string_view a, std::string_view b) {
  const auto end = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return static_cast<std::size_t>(end.first - a.begin());
}

std::size_t length_difference(std::string_view a, std::string_view b) {
  return a.size() > b.size() ? a.size() - b.size() : b.size() - a.size();
}

// A query prepared once for comparison with every known name.
struct Query {
  explicit Query(std::string_view text) : pattern(text), characters(text) {}

  EditDistancePattern pattern;
  CharacterSet characters;
};

// Scores `name` against the query into `candidate`, or returns false when it does not qualify.
// The cheap tests come first because most of the ~1,500 known names fail them.
bool score(const Query& query, std::string_view name, const CharacterSet& characters, Candidate& candidate) {
  const auto text = query.pattern.pattern();
  const std::size_t max_distance = std::max<std::size_t>(2, text.size() / 4);
  const std::size_t prefix = common_prefix(text, name);
  const std::size_t shorter = std::min(text.size(), name.size());
  const bool prefix_match = prefix >= k_min_prefix && prefix * 3 >= shorter * 2;
  if (!prefix_match && (length_difference(text, name) > max_distance ||
                        query.characters.distance_lower_bound(characters) > max_distance)) {
    return false;
  }

  const std::size_t distance = query.pattern.distance_to(name);
  if (!prefix_match && distance > max_distance) {
    return false;
  }
  candidate.close = distance <= max_distance;
  candidate.extends_query = prefix == text.size();
  candidate.distance = distance;
  candidate.prefix = prefix;
  candidate.name = name;
  return true;
}

std::vector<std::string> take_best(std::vector<Candidate> candidates) {
  std::sort(candidates.begin(), candidates.end(), ranks_before);
  std::vector<std::string> result;
  for (auto& candidate : candidates) {
    if (result.size() == k_max_suggestions) {
      break;
    }
    if (std::find(result.begin(), result.end(), candidate.suggestion) == result.end()) {
      result.push_back(std::move(candidate.suggestion));
    }
  }
  return result;
}

} // namespace

std::vector<std::string> suggest_names(const Registry& registry, const UserAliases& aliases, std::string_view name) {
  const auto dot = name.find('.');
  const auto arch_part = name.substr(0, dot);
  const auto tag_part = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
  const Query query(arch_part);

  std::vector<Candidate> candidates;
  Candidate candidate;
  for (const auto& known : registry.known_names()) {
    if (!score(query, known.name, known.characters, candidate)) {
      continue;
    }
    candidate.suggestion = known.suggestion;
    if (!tag_part.empty() && known.name == known.suggestion) {
      const auto* arch = registry.find_architecture(known.name);
      const auto* record = arch != nullptr ? arch->find_tag(tag_part) : nullptr;
      if (record != nullptr && record->has_weights()) {
        candidate.suggestion = arch->canonical_name(*record);
      }
    }
    candidates.push_back(candidate);
  }
  for (const auto& [alias, target] : aliases.entries()) {
    if (score(query, alias, CharacterSet(alias), candidate)) {
      candidate.suggestion = alias;
      candidates.push_back(candidate);
    }
  }
  return take_best(std::move(candidates));
}

std::vector<std::string> suggest_tags(const Architecture& arch, std::string_view tag) {
  const EditDistancePattern query(tag);
  std::vector<Candidate> candidates;
  for (const auto& record : arch.tags) {
    if (!record.has_weights()) {
      continue;
    }
    const auto prefix = common_prefix(tag, record.tag);
    candidates.push_back(
        {true, prefix == tag.size(), query.distance_to(record.tag), prefix, record.tag, arch.canonical_name(record)});
  }
  return take_best(std::move(candidates));
}

} // namespace timmd::registry

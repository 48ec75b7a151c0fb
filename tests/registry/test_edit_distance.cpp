#include "daemon/registry/edit_distance.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

using timmd::registry::edit_distance;
using timmd::registry::EditDistancePattern;

namespace {

std::size_t reference_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) {
    d[i][0] = i;
  }
  for (std::size_t j = 0; j <= b.size(); ++j) {
    d[0][j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
  }
  return d[a.size()][b.size()];
}

} // namespace

TEST_CASE("edit distance of known pairs") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("resnet50", "resnet50") == 0);
  CHECK(edit_distance("resnt50", "resnet50") == 1);
  CHECK(edit_distance("resnet5O", "resnet50") == 1);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("convnext", "convnext_tiny") == 5);
}

TEST_CASE("edit distance matches the quadratic reference") {
  std::mt19937 random(12345);
  std::uniform_int_distribution<int> letter(0, 3);
  std::uniform_int_distribution<std::size_t> length(0, 80);
  for (int round = 0; round < 400; ++round) {
    std::string a(length(random), 'a');
    std::string b(length(random), 'a');
    for (auto& c : a) {
      c = static_cast<char>('a' + letter(random));
    }
    for (auto& c : b) {
      c = static_cast<char>('a' + letter(random));
    }
    INFO("a=" << a << " b=" << b);
    CHECK(edit_distance(a, b) == reference_distance(a, b));
  }
}

TEST_CASE("edit distance at the 64-byte word boundary") {
  const std::string sixty_four(64, 'x');
  const std::string sixty_five(65, 'x');
  CHECK(edit_distance(sixty_four, sixty_four) == 0);
  CHECK(edit_distance(sixty_four, sixty_five) == 1);
  CHECK(edit_distance(sixty_five, sixty_four) == 1);
  CHECK(edit_distance(sixty_four, std::string(64, 'y')) == 64);
}

TEST_CASE("prepared pattern is reusable") {
  const EditDistancePattern pattern("vit_base_patch16_224");
  CHECK(pattern.distance_to("vit_base_patch16_224") == 0);
  CHECK(pattern.distance_to("vit_base_patch32_224") == 2);
  CHECK(pattern.distance_to("vit_base_patch16_224") == 0);
}

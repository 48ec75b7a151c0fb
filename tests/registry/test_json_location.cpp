#include "daemon/registry/json_location.hpp"

#include <doctest/doctest.h>

using timmd::registry::field_at_offset;
using timmd::registry::find_value_offset;
using timmd::registry::position_at;
using Pointer = nlohmann::json::json_pointer;

namespace {

constexpr std::string_view k_document = R"({
  "architectures": {
    "resnet50": {
      "tags": [
        {"tag": "a1_in1k"},
        {"tag": "a2_in1k", "num_classes": 10}
      ]
    }
  }
})";

} // namespace

TEST_CASE("position of an offset counts lines and columns from 1") {
  CHECK(position_at("abc", 0).line == 1);
  CHECK(position_at("abc", 0).column == 1);
  CHECK(position_at("ab\ncd", 3).line == 2);
  CHECK(position_at("ab\ncd", 4).column == 2);
  CHECK(position_at("ab", 99).column == 3);
}

TEST_CASE("value offset of a nested member") {
  const auto offset = find_value_offset(k_document, Pointer("/architectures/resnet50/tags/1/num_classes"));
  REQUIRE(offset);
  const auto position = position_at(k_document, *offset);
  CHECK(position.line == 6);
  CHECK(k_document.substr(*offset, 13) == "\"num_classes\"");
}

TEST_CASE("value offset of an array element") {
  const auto offset = find_value_offset(k_document, Pointer("/architectures/resnet50/tags/0"));
  REQUIRE(offset);
  CHECK(position_at(k_document, *offset).line == 5);
}

TEST_CASE("value offset of a missing member is absent") {
  CHECK_FALSE(find_value_offset(k_document, Pointer("/architectures/vit")));
  CHECK_FALSE(find_value_offset(k_document, Pointer("/architectures/resnet50/tags/7")));
}

TEST_CASE("value offset of a repeated key names the last one") {
  constexpr std::string_view text = "{\"a\": 1,\n \"a\": 2}";
  const auto offset = find_value_offset(text, Pointer("/a"));
  REQUIRE(offset);
  CHECK(position_at(text, *offset).line == 2);
}

TEST_CASE("field at the offset where truncated text ends") {
  const auto cut = k_document.find("10");
  CHECK(field_at_offset(k_document.substr(0, cut), cut) == "architectures.resnet50.tags[1].num_classes");
  CHECK(field_at_offset(k_document, 0).empty());
}

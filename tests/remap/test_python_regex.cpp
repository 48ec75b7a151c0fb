#include "daemon/remap/python_regex.hpp"

#include <doctest/doctest.h>

namespace timmd::remap {
namespace {

std::string sub(const std::string& pattern, const std::string& replacement, const std::string& text, int count = 0) {
  auto regex = PythonRegex::compile(pattern);
  REQUIRE_MESSAGE(regex.has_value(), (regex ? std::string() : regex.error().message));
  auto result = regex->sub(replacement, text, count);
  REQUIRE_MESSAGE(result.has_value(), (result ? std::string() : result.error().message));
  return *result;
}

TEST_CASE("re.sub rewrites every non-overlapping match with numbered and named groups") {
  CHECK(sub(R"(stages.([0-9]+).([0-9]+))", R"(stages.\1.blocks.\2)", "stages.2.10.dwconv.weight") ==
        "stages.2.blocks.10.dwconv.weight");
  CHECK(sub("a", "b", "banana") == "bbnbnb");
  CHECK(sub("a", "b", "banana", 1) == "bbnana");
  CHECK(sub(R"((?P<stage>\d+)\.(?P<block>\d+))", R"(\g<stage>_\g<block>_\g<1>)", "x.3.4") == "x.3_4_3");
  CHECK(sub("conv(\\d+)\\.0", "conv\\1.conv", "body.conv1.0.weight") == "body.conv1.conv.weight");
}

TEST_CASE("an unescaped dot matches any character, as in timm's patterns") {
  CHECK(sub(R"(stages.([0-9]+).([0-9]+))", R"(S\1-\2)", "stagesX1Y2") == "S1-2");
}

TEST_CASE("integer expressions on groups follow Python's arithmetic") {
  CHECK(sub(R"(layers.(\d+).downsample)", R"(layers.{=\1+1}.downsample)", "layers.0.downsample.norm.weight") ==
        "layers.1.downsample.norm.weight");
  CHECK(sub(R"(network\.(\d+)\.)", R"(stages.{=\1//2}.)", "network.5.x") == "stages.2.x");
  CHECK(sub(R"(n(\d+))", R"({=(\1 - 10) // 3}|{=(\1 - 10) % 3})", "n3") == "-3|2");
  CHECK(sub(R"(n(\d+))", R"({=\1*2+1})", "n7") == "15");
}

TEST_CASE("unsupported Python constructs are rejected when the pattern is compiled") {
  for (const auto* pattern : {"(?<=a)b", "(?i)abc", "(?P<x>a", "[abc", "a\\", "(?P=missing)", "a{6666666666666}", "a{2,5000}",
                              "k**", "(a*)*", "((a+)b)+", "a+*", "(a)\\2", "(a)\\123"}) {
    CAPTURE(pattern);
    auto regex = PythonRegex::compile(pattern);
    REQUIRE_FALSE(regex.has_value());
    CHECK(regex.error().code == proto::Errc::invalid_request);
    CHECK(regex.error().message.find(pattern) != std::string::npos);
  }
}

TEST_CASE("templates naming missing groups or dividing by zero are errors") {
  auto regex = PythonRegex::compile("a(b)");
  REQUIRE(regex.has_value());
  CHECK_FALSE(regex->check_template("\\2").has_value());
  CHECK_FALSE(regex->check_template("\\g<nope>").has_value());
  CHECK_FALSE(regex->check_template("{=\\1").has_value());
  CHECK(regex->check_template("x\\1{=\\1+1}").has_value());
  auto divided = PythonRegex::compile("n(\\d+)")->sub("{=10//\\1}", "n0");
  REQUIRE_FALSE(divided.has_value());
  CHECK(divided.error().message.find("division by zero") != std::string::npos);
  auto not_integer = PythonRegex::compile("n(\\w+)")->sub("{=\\1+1}", "nabc");
  REQUIRE_FALSE(not_integer.has_value());
  CHECK(not_integer.error().message.find("'abc'") != std::string::npos);
}

TEST_CASE("lazy quantifiers, bounded counts and repeated groups without inner repetition compile") {
  for (const auto* pattern : {"a*?b", "(ab)+", "(a|b)*", "x{2,3}", "[*+]+", "\\*+", "(a?)+", "a{2,}", "(a)\\1"}) {
    INFO(std::string(pattern));
    CHECK(PythonRegex::compile(pattern).has_value());
  }
}

TEST_CASE("search and the \\A \\Z anchors") {
  auto regex = PythonRegex::compile(R"(\Ahead\.)");
  REQUIRE(regex.has_value());
  CHECK(regex->search("head.weight"));
  CHECK_FALSE(regex->search("x.head.weight"));
  auto end = PythonRegex::compile(R"(bias\Z)");
  CHECK(end->search("a.bias"));
  CHECK_FALSE(end->search("a.bias.x"));
}

} // namespace
} // namespace timmd::remap

#include "daemon/remap/resample.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

using namespace timmd::remap;

namespace {

// Per-element tolerance against torch: |actual - expected| <= k_abs + k_rel * |expected|.
constexpr double k_abs = 1e-5;
constexpr double k_rel = 1e-5;

std::filesystem::path golden_dir() {
  return std::filesystem::path(TIMMD_SOURCE_DIR) / "tests" / "data" / "remap" / "resample";
}

std::vector<float> read_floats(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot open " << path);
  const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() % 4 == 0);
  std::vector<float> values(bytes.size() / 4);
  for (std::size_t i = 0; i < values.size(); ++i) {
    // The files are little-endian whatever the host order.
    std::uint32_t bits = 0;
    for (std::size_t b = 0; b < 4; ++b) {
      bits |= static_cast<std::uint32_t>(bytes[i * 4 + b]) << (8 * b);
    }
    std::memcpy(&values[i], &bits, sizeof bits);
  }
  return values;
}

nlohmann::json read_index() {
  std::ifstream in(golden_dir() / "index.json");
  REQUIRE_MESSAGE(in, "cannot open the golden index in " << golden_dir());
  return nlohmann::json::parse(in);
}

Interpolation parse_mode(const std::string& name) {
  return name == "bicubic" ? Interpolation::bicubic : Interpolation::bilinear;
}

// Largest error and largest tolerance excess (positive means out of tolerance) of a comparison.
struct Deviation {
  double max_error = 0.0;
  double max_excess = -1.0;
  std::size_t worst_index = 0;
};

Deviation compare(const std::vector<float>& actual, const std::vector<float>& expected) {
  Deviation deviation;
  for (std::size_t i = 0; i < std::min(actual.size(), expected.size()); ++i) {
    const double expected_value = expected[i];
    const double error = std::fabs(static_cast<double>(actual[i]) - expected_value);
    const double excess = error - (k_abs + k_rel * std::fabs(expected_value));
    deviation.max_error = std::max(deviation.max_error, error);
    if (excess > deviation.max_excess) {
      deviation.max_excess = excess;
      deviation.worst_index = i;
    }
  }
  return deviation;
}

std::vector<float> run_golden(const nlohmann::json& c, const std::vector<float>& input) {
  const std::string function = c.at("function");
  timmd::proto::Result<std::vector<float>> result = std::vector<float>{};
  if (function == "interpolate_2d") {
    result = interpolate_2d(input, c.at("channels"), c.at("input_hw")[0], c.at("input_hw")[1], c.at("output_hw")[0],
                            c.at("output_hw")[1], parse_mode(c.at("mode")), c.at("antialias"));
  } else if (function == "resample_abs_pos_embed") {
    result =
        resample_abs_pos_embed(input, c.at("dim"), c.at("prefix"), c.at("input_hw")[0], c.at("input_hw")[1],
                               c.at("output_hw")[0], c.at("output_hw")[1], parse_mode(c.at("mode")), c.at("antialias"));
  } else if (function == "resize_rel_pos_bias_table") {
    result = resize_rel_pos_bias_table(input, c.at("src_rows"), c.at("heads"), c.at("dst_window")[0],
                                       c.at("dst_window")[1], c.at("extra_rows"));
  } else if (function == "resize_rel_pos_bias_table_levit") {
    result = resize_rel_pos_bias_table_levit(input, c.at("rows"), c.at("heads"), c.at("dst_rows"));
  } else {
    FAIL("unknown function in the golden index: " << function);
  }
  REQUIRE_MESSAGE(result.has_value(), result.error());
  return *result;
}

// Independent double-precision 1-D resizers written from the torch semantics, used to show
// that the kernel coefficient matters at the tolerance.
double keys_kernel(double x, double a) {
  x = std::fabs(x);
  if (x < 1.0) {
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  }
  if (x < 2.0) {
    return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
  }
  return 0.0;
}

std::vector<double> reference_antialias(const std::vector<float>& row, std::size_t out,
                                        const std::function<double(double)>& kernel, double half_width) {
  const auto in = static_cast<double>(row.size());
  const double scale = in / static_cast<double>(out);
  const double stretch = std::max(scale, 1.0);
  const double support = half_width * stretch;
  std::vector<double> result;
  for (std::size_t i = 0; i < out; ++i) {
    const double centre = scale * (static_cast<double>(i) + 0.5);
    const auto first = std::max(static_cast<long>(centre - support + 0.5), 0L);
    const auto end = std::min(static_cast<long>(centre + support + 0.5), static_cast<long>(row.size()));
    double sum = 0.0;
    double total = 0.0;
    for (long j = first; j < end; ++j) {
      const double w = kernel((static_cast<double>(j) - centre + 0.5) / stretch);
      sum += w * row[static_cast<std::size_t>(j)];
      total += w;
    }
    result.push_back(sum / total);
  }
  return result;
}

std::vector<double> reference_keys(const std::vector<float>& row, std::size_t out, double a) {
  const auto last = static_cast<long>(row.size()) - 1;
  const double scale = static_cast<double>(row.size()) / static_cast<double>(out);
  std::vector<double> result;
  for (std::size_t i = 0; i < out; ++i) {
    const double real = scale * (static_cast<double>(i) + 0.5) - 0.5;
    const double floor_index = std::floor(real);
    const double t = real - floor_index;
    double sum = 0.0;
    for (long k = -1; k <= 2; ++k) {
      const long tap = std::clamp(static_cast<long>(floor_index) + k, 0L, last);
      sum += keys_kernel(t - static_cast<double>(k), a) * row[static_cast<std::size_t>(tap)];
    }
    result.push_back(sum);
  }
  return result;
}

// Returns max |actual - reference| minus the tolerance, which is positive when out of tolerance.
double max_excess(const std::vector<float>& actual, const std::vector<double>& reference) {
  REQUIRE(actual.size() == reference.size());
  double worst = -1.0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double error = std::fabs(static_cast<double>(actual[i]) - reference[i]);
    worst = std::max(worst, error - (k_abs + k_rel * std::fabs(reference[i])));
  }
  return worst;
}

std::vector<float> test_row(std::size_t size) {
  std::vector<float> row;
  for (std::size_t i = 0; i < size; ++i) {
    row.push_back(static_cast<float>(std::sin(0.9 * static_cast<double>(i) + 0.3) +
                                     0.25 * std::cos(2.7 * static_cast<double>(i))));
  }
  return row;
}

// A 1-row image, so only the width axis is resized.
std::vector<float> resize_row(const std::vector<float>& row, std::size_t out, Interpolation mode, bool antialias) {
  auto result = interpolate_2d(row, 1, 1, row.size(), 1, out, mode, antialias);
  REQUIRE_MESSAGE(result.has_value(), result.error());
  return *result;
}

void check_invalid(const timmd::proto::Result<std::vector<float>>& result, const std::string& fragment) {
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code == timmd::proto::Errc::invalid_request);
  CHECK_MESSAGE(result.error().message.find(fragment) != std::string::npos, result.error().message);
}

} // namespace

TEST_CASE("resample goldens match torch") {
  const auto index = read_index();
  std::map<std::string, Deviation> families;
  std::map<std::string, std::size_t> functions;
  for (const auto& c : index.at("cases")) {
    const std::string name = c.at("name");
    CAPTURE(name);
    const auto input = read_floats(golden_dir() / c.at("input").get<std::string>());
    const auto expected = read_floats(golden_dir() / c.at("expected").get<std::string>());

    const auto actual = run_golden(c, input);

    REQUIRE(actual.size() == expected.size());
    const Deviation deviation = compare(actual, expected);
    CHECK_MESSAGE(deviation.max_excess <= 0.0, "element " << deviation.worst_index << " is "
                                                          << actual[deviation.worst_index] << ", torch gives "
                                                          << expected[deviation.worst_index]);
    Deviation& family = families[c.at("family")];
    family.max_error = std::max(family.max_error, deviation.max_error);
    ++functions[c.at("function")];
  }

  for (const auto& [family, deviation] : families) {
    MESSAGE(family << ": max |error| " << deviation.max_error);
  }
  CHECK(families.size() == 7);
  CHECK(functions["interpolate_2d"] == 24);
  CHECK(functions["resample_abs_pos_embed"] >= 3);
  CHECK(functions["resize_rel_pos_bias_table"] >= 3);
  CHECK(functions["resize_rel_pos_bias_table_levit"] >= 2);
}

TEST_CASE("antialiased bicubic uses a = -0.5") {
  const auto minus_half = [](double x) { return keys_kernel(x, -0.5); };
  const auto minus_three_quarters = [](double x) { return keys_kernel(x, -0.75); };
  for (const auto& [in, out] : {std::pair<std::size_t, std::size_t>{7, 12}, {37, 16}, {16, 14}}) {
    CAPTURE(in);
    CAPTURE(out);
    const auto row = test_row(in);
    const auto actual = resize_row(row, out, Interpolation::bicubic, true);

    CHECK(max_excess(actual, reference_antialias(row, out, minus_half, 2.0)) <= 0.0);
    CHECK(max_excess(actual, reference_antialias(row, out, minus_three_quarters, 2.0)) > 0.0);
  }
}

TEST_CASE("plain bicubic uses a = -0.75") {
  for (const auto& [in, out] : {std::pair<std::size_t, std::size_t>{7, 12}, {37, 16}, {5, 4}}) {
    CAPTURE(in);
    CAPTURE(out);
    const auto row = test_row(in);
    const auto actual = resize_row(row, out, Interpolation::bicubic, false);

    CHECK(max_excess(actual, reference_keys(row, out, -0.75)) <= 0.0);
    CHECK(max_excess(actual, reference_keys(row, out, -0.5)) > 0.0);
  }
}

TEST_CASE("antialias widens the filter when downsampling") {
  const auto triangle = [](double x) { return std::max(0.0, 1.0 - std::fabs(x)); };
  const auto row = test_row(37);
  const auto antialiased = resize_row(row, 16, Interpolation::bilinear, true);
  const auto plain = resize_row(row, 16, Interpolation::bilinear, false);

  CHECK(max_excess(antialiased, reference_antialias(row, 16, triangle, 1.0)) <= 0.0);
  std::vector<double> plain_as_double(plain.begin(), plain.end());
  CHECK(max_excess(antialiased, plain_as_double) > 0.0);
}

TEST_CASE("equal sizes return the input") {
  const auto row = test_row(60);
  for (const auto mode : {Interpolation::bilinear, Interpolation::bicubic}) {
    for (const bool antialias : {false, true}) {
      CAPTURE(antialias);
      const auto same = interpolate_2d(row, 3, 4, 5, 4, 5, mode, antialias);
      REQUIRE(same.has_value());
      CHECK(*same == row);

      const auto table = resample_abs_pos_embed(row, 3, 0, 4, 5, 4, 5, mode, antialias);
      REQUIRE(table.has_value());
      CHECK(*table == row);
    }
  }

  const auto rel_table = test_row(169 * 2 + 3 * 2);
  const auto rel = resize_rel_pos_bias_table(rel_table, 172, 2, 7, 7);
  REQUIRE(rel.has_value());
  CHECK(*rel == rel_table);

  const auto levit_table = test_row(49 * 3);
  const auto levit = resize_rel_pos_bias_table_levit(levit_table, 49, 3, 49);
  REQUIRE(levit.has_value());
  CHECK(*levit == levit_table);
}

TEST_CASE("constant grids stay constant") {
  const std::vector<float> grid(2 * 9 * 11, 0.625F);
  for (const auto mode : {Interpolation::bilinear, Interpolation::bicubic}) {
    for (const bool antialias : {false, true}) {
      CAPTURE(antialias);
      for (const auto& [out_h, out_w] : {std::pair<std::size_t, std::size_t>{20, 3}, {4, 17}, {1, 1}}) {
        const auto result = interpolate_2d(grid, 2, 9, 11, out_h, out_w, mode, antialias);
        REQUIRE(result.has_value());
        REQUIRE(result->size() == 2 * out_h * out_w);
        CHECK(max_excess(*result, std::vector<double>(result->size(), 0.625)) <= 0.0);
      }
    }
  }
}

TEST_CASE("abs pos embed prefix and layout") {
  constexpr std::size_t dim = 3;
  constexpr std::size_t prefix = 2;
  const auto table = test_row((prefix + 5 * 6) * dim);

  const auto result = resample_abs_pos_embed(table, dim, prefix, 5, 6, 8, 4, Interpolation::bicubic, true);

  REQUIRE(result.has_value());
  REQUIRE(result->size() == (prefix + 8 * 4) * dim);
  CHECK(std::equal(table.begin(), table.begin() + prefix * dim, result->begin()));
  // The same grid in (channels, h, w) layout must give the same values.
  std::vector<float> planes(dim * 5 * 6);
  for (std::size_t p = 0; p < 5 * 6; ++p) {
    for (std::size_t c = 0; c < dim; ++c) {
      planes[c * 30 + p] = table[(prefix + p) * dim + c];
    }
  }
  const auto resized = interpolate_2d(planes, dim, 5, 6, 8, 4, Interpolation::bicubic, true);
  REQUIRE(resized.has_value());
  for (std::size_t p = 0; p < 8 * 4; ++p) {
    for (std::size_t c = 0; c < dim; ++c) {
      CHECK((*result)[(prefix + p) * dim + c] == (*resized)[c * 32 + p]);
    }
  }
}

TEST_CASE("rel pos table extra rows") {
  constexpr std::size_t heads = 2;
  const auto table = test_row((169 + 3) * heads);

  const auto inferred = resize_rel_pos_bias_table(table, 172, heads, 12, 12);
  const auto explicit_extra = resize_rel_pos_bias_table(table, 172, heads, 12, 12, 3);

  REQUIRE(inferred.has_value());
  REQUIRE(explicit_extra.has_value());
  CHECK(*inferred == *explicit_extra);
  REQUIRE(inferred->size() == (529 + 3) * heads);
  CHECK(std::equal(table.end() - 3 * heads, table.end(), inferred->end() - 3 * heads));
  // The centre of the relative grid (offset 0, 0) is sampled exactly at a source position.
  for (std::size_t h = 0; h < heads; ++h) {
    CHECK((*inferred)[(11 * 23 + 11) * heads + h] == doctest::Approx(table[(6 * 13 + 6) * heads + h]).epsilon(1e-6));
  }
}

TEST_CASE("interpolate_2d rejects bad sizes") {
  const std::vector<float> input(2 * 3 * 4, 1.0F);
  check_invalid(interpolate_2d(input, 0, 3, 4, 5, 5, Interpolation::bicubic, true), "channels is 0");
  check_invalid(interpolate_2d(input, 2, 0, 4, 5, 5, Interpolation::bicubic, true), "in_h is 0");
  check_invalid(interpolate_2d(input, 2, 3, 4, 5, 0, Interpolation::bilinear, false), "out_w is 0");
  check_invalid(interpolate_2d(input, 2, 3, 5, 5, 5, Interpolation::bilinear, false), "input has 24 values");
  check_invalid(interpolate_2d(input, 2, 3, k_max_resample_side + 1, 5, 5, Interpolation::bicubic, false),
                "in_w is 16777217");
  check_invalid(interpolate_2d(input, SIZE_MAX / 2, 3, 4, 5, 5, Interpolation::bicubic, false), "overflows");
}

TEST_CASE("resample_abs_pos_embed rejects bad sizes") {
  const std::vector<float> table(5 * 4, 1.0F);
  check_invalid(resample_abs_pos_embed(table, 0, 1, 2, 2, 3, 3, Interpolation::bicubic, true), "dim is 0");
  check_invalid(resample_abs_pos_embed(table, 4, 1, 2, 0, 3, 3, Interpolation::bicubic, true), "in_w is 0");
  check_invalid(resample_abs_pos_embed(table, 4, 2, 2, 2, 3, 3, Interpolation::bicubic, true), "input has 20 values");
  check_invalid(resample_abs_pos_embed(table, 4, SIZE_MAX - 2, 2, 2, 3, 3, Interpolation::bicubic, true), "overflows");
  check_invalid(resample_abs_pos_embed(table, 4, 1, 2, 2, 3, 0, Interpolation::bilinear, false), "out_w is 0");
}

TEST_CASE("resize_rel_pos_bias_table rejects bad sizes") {
  const std::vector<float> table(172 * 2, 1.0F);
  check_invalid(resize_rel_pos_bias_table(table, 172, 0, 12, 12), "heads is 0");
  check_invalid(resize_rel_pos_bias_table(table, 0, 2, 12, 12), "src_rows is 0");
  check_invalid(resize_rel_pos_bias_table(table, 172, 2, 0, 12), "dst_window_h is 0");
  check_invalid(resize_rel_pos_bias_table(table, 172, 2, 12, 12, 172), "extra_rows is 172");
  // 172 - 28 = 144 = 12^2, but a relative grid side is always odd.
  check_invalid(resize_rel_pos_bias_table(table, 172, 2, 12, 12, 28), "144 grid rows");
  check_invalid(resize_rel_pos_bias_table(table, 172, 2, 12, 12, 2), "170 grid rows");
  check_invalid(resize_rel_pos_bias_table(table, 171, 2, 12, 12), "input has 344 values");
  check_invalid(resize_rel_pos_bias_table(table, 172, 2, 12, k_max_resample_side + 1), "dst_window_w is");
}

TEST_CASE("resize_rel_pos_bias_table_levit rejects bad sizes") {
  const std::vector<float> table(49 * 2, 1.0F);
  check_invalid(resize_rel_pos_bias_table_levit(table, 49, 0, 64), "heads is 0");
  check_invalid(resize_rel_pos_bias_table_levit(table, 0, 2, 64), "sqrt(rows) is 0");
  check_invalid(resize_rel_pos_bias_table_levit(table, 49, 2, 50), "dst_rows 50");
  check_invalid(resize_rel_pos_bias_table_levit(table, 48, 2, 64), "rows 48");
  check_invalid(resize_rel_pos_bias_table_levit(table, 64, 2, 49), "input has 98 values");
}

#include "daemon/remap/resample.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>

namespace timmd::remap {
namespace {

// The arithmetic below follows torch 1.13's CPU upsampling kernels step by step, including
// where they mix float and double. torch compiles those kernels with floating-point
// contraction, so some multiply-adds are fused, and each std::fma below stands for one of them.
// With these, the tap weights equal torch 1.13.1's (Debian build, AVX2 kernels) bit for bit for
// every size pair from 1 to 39 in all four modes, checked with one-hot inputs. The weighted sums
// can still differ by an ulp or two, because torch orders some of them differently.
// NOTE: with -mfma or -march=native GCC also fuses the plain multiply-adds here unless
// -ffp-contract=off is given, which moves results by about an ulp.

// One axis of a resize: output i is the sum over k < count[i] of
// input[index[i * width + k]] * weight[i * width + k], accumulated in that order.
struct AxisTaps {
  AxisTaps(std::size_t in, std::size_t out, std::size_t taps_per_output)
      : in_size(in), out_size(out), width(taps_per_output), count(out, taps_per_output), index(out * width),
        weight(out * width) {}

  std::size_t in_size;
  std::size_t out_size;
  std::size_t width;
  // Plain bilinear sums its two taps as x0 * w0 + x1 * w1, fused on the first product, instead
  // of in sequence.
  bool pairwise = false;
  std::vector<std::size_t> count;
  std::vector<std::size_t> index;
  std::vector<float> weight;
};

// in/out as float, which is how torch computes the scale when only the output size is given.
float pixel_scale(std::size_t in_size, std::size_t out_size) {
  return static_cast<float>(in_size) / static_cast<float>(out_size);
}

// Source coordinate of output pixel centre i with align_corners=False. torch 1.13 keeps it in
// double (the CPU accumulation type of float) for bilinear and bicubic.
double source_coordinate(float scale, std::size_t i) {
  return static_cast<double>(scale) * (static_cast<double>(i) + 0.5) - 0.5;
}

std::int64_t to_signed(std::size_t value) {
  return static_cast<std::int64_t>(value);
}

AxisTaps linear_taps(std::size_t in_size, std::size_t out_size) {
  AxisTaps taps(in_size, out_size, 2);
  taps.pairwise = true;
  const float scale = pixel_scale(in_size, out_size);
  const std::int64_t last = to_signed(in_size) - 1;

  for (std::size_t i = 0; i < out_size; ++i) {
    // Bilinear clamps positions left of the first pixel centre to 0 (OpenCV behaviour).
    const double real = std::max(source_coordinate(scale, i), 0.0);
    const std::int64_t index0 = std::min(static_cast<std::int64_t>(real), last);
    const std::int64_t index1 = index0 < last ? index0 + 1 : index0;
    const auto lambda1 = static_cast<float>(real - static_cast<double>(index0));

    taps.index[i * 2] = static_cast<std::size_t>(index0);
    taps.index[i * 2 + 1] = static_cast<std::size_t>(index1);
    taps.weight[i * 2] = static_cast<float>(1.0 - static_cast<double>(lambda1));
    taps.weight[i * 2 + 1] = lambda1;
  }
  return taps;
}

// Keys cubic convolution kernel for |x| <= 1 and for 1 < |x| < 2, with a = -0.75 as in torch.
// torch's build fuses only the first multiply-add of the inner branch and the first two of the
// outer one.
constexpr float k_keys_a = -0.75F;

float keys_inner(float x) {
  const float linear = std::fma(k_keys_a + 2, x, -(k_keys_a + 3));
  return linear * x * x + 1;
}

float keys_outer(float x) {
  const float quadratic = std::fma(std::fma(k_keys_a, x, -5 * k_keys_a), x, 8 * k_keys_a);
  return quadratic * x - 4 * k_keys_a;
}

AxisTaps cubic_taps(std::size_t in_size, std::size_t out_size) {
  AxisTaps taps(in_size, out_size, 4);
  const float scale = pixel_scale(in_size, out_size);
  const std::int64_t last = to_signed(in_size) - 1;

  for (std::size_t i = 0; i < out_size; ++i) {
    // Unlike bilinear, a negative position is kept: the taps left of 0 are clamped instead.
    // torch floors the position after rounding it to float (floorf) but takes the fraction
    // from the double, so t can be slightly negative just below an integer.
    const double real = source_coordinate(scale, i);
    const std::int64_t floor_index = std::min(static_cast<std::int64_t>(std::floor(static_cast<float>(real))), last);
    const auto t = static_cast<float>(real - static_cast<double>(floor_index));
    const float mirrored = 1.0F - t;
    const float coefficients[4] = {keys_outer(t + 1.0F), keys_inner(t), keys_inner(mirrored),
                                   keys_outer(mirrored + 1.0F)};

    for (std::size_t k = 0; k < 4; ++k) {
      const std::int64_t tap = std::clamp(floor_index - 1 + to_signed(k), std::int64_t{0}, last);
      taps.index[i * 4 + k] = static_cast<std::size_t>(tap);
      taps.weight[i * 4 + k] = coefficients[k];
    }
  }
  return taps;
}

// Triangle filter of antialiased bilinear.
float triangle_filter(float x) {
  x = std::fabs(x);
  return x < 1.0F ? static_cast<float>(1.0 - static_cast<double>(x)) : 0.0F;
}

// Cubic filter of antialiased bicubic with Pillow's a = -0.5. torch evaluates the inner branch in
// double because its constant is a double literal.
float pillow_cubic_filter(float x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0F) {
    const double xd = x;
    return static_cast<float>(((a + 2.0) * xd - (a + 3.0)) * xd * xd + 1);
  }
  if (x < 2.0F) {
    return static_cast<float>(static_cast<double>(std::fma(std::fma(x - 5, x, 8.0F), x, -4.0F)) * a);
  }
  return 0.0F;
}

// Antialiased taps: the filter is stretched by the scale when downsampling, taps falling outside
// the image are dropped and the remaining weights are divided by their sum.
AxisTaps antialias_taps(std::size_t in_size, std::size_t out_size, Interpolation mode) {
  const double filter_half_width = mode == Interpolation::bicubic ? 2.0 : 1.0;
  const auto filter = mode == Interpolation::bicubic ? pillow_cubic_filter : triangle_filter;
  const float scale = pixel_scale(in_size, out_size);
  const float support = scale >= 1.0F ? static_cast<float>(filter_half_width * static_cast<double>(scale))
                                      : static_cast<float>(filter_half_width);
  const float inverse_scale = scale >= 1.0F ? static_cast<float>(1.0 / static_cast<double>(scale)) : 1.0F;
  const auto width = static_cast<std::size_t>(std::ceil(support)) * 2 + 1;
  AxisTaps taps(in_size, out_size, width);

  for (std::size_t i = 0; i < out_size; ++i) {
    const auto centre = static_cast<float>(static_cast<double>(scale) * (static_cast<double>(i) + 0.5));
    const std::int64_t first =
        std::max(static_cast<std::int64_t>(static_cast<double>(centre - support) + 0.5), std::int64_t{0});
    const std::int64_t end =
        std::min(static_cast<std::int64_t>(static_cast<double>(centre + support) + 0.5), to_signed(in_size));
    const auto count = static_cast<std::size_t>(std::clamp(end - first, std::int64_t{0}, to_signed(width)));
    float* weights = taps.weight.data() + i * width;

    float total = 0.0F;
    for (std::size_t k = 0; k < count; ++k) {
      const std::int64_t tap = first + to_signed(k);
      const double offset = static_cast<double>(static_cast<float>(tap) - centre) + 0.5;
      weights[k] = filter(static_cast<float>(offset * static_cast<double>(inverse_scale)));
      total += weights[k];
      taps.index[i * width + k] = static_cast<std::size_t>(tap);
    }
    if (total != 0.0F) {
      for (std::size_t k = 0; k < count; ++k) {
        weights[k] /= total;
      }
    }
    taps.count[i] = count;
  }
  return taps;
}

AxisTaps axis_taps(std::size_t in_size, std::size_t out_size, Interpolation mode, bool antialias) {
  if (antialias) {
    return antialias_taps(in_size, out_size, mode);
  }
  return mode == Interpolation::bicubic ? cubic_taps(in_size, out_size) : linear_taps(in_size, out_size);
}

// Sum over k < count of source[index[k] * stride] * weight[k], fused in sequence as torch's
// `output += t * w` loop is.
float weighted_sum(const float* source, std::size_t stride, const std::size_t* index, const float* weight,
                   std::size_t count) {
  float sum = source[index[0] * stride] * weight[0];
  for (std::size_t k = 1; k < count; ++k) {
    sum = std::fma(source[index[k] * stride], weight[k], sum);
  }
  return sum;
}

// Resizes the middle axis of a row-major (outer, taps.in_size, inner) array to taps.out_size.
std::vector<float> resize_axis(std::span<const float> input, std::size_t outer, std::size_t inner,
                               const AxisTaps& taps) {
  std::vector<float> output(outer * taps.out_size * inner);
  for (std::size_t o = 0; o < outer; ++o) {
    const float* source = input.data() + o * taps.in_size * inner;
    float* target = output.data() + o * taps.out_size * inner;
    for (std::size_t i = 0; i < taps.out_size; ++i) {
      const std::size_t* index = taps.index.data() + i * taps.width;
      const float* weight = taps.weight.data() + i * taps.width;
      for (std::size_t e = 0; e < inner; ++e) {
        target[i * inner + e] =
            taps.pairwise ? std::fma(source[index[0] * inner + e], weight[0], source[index[1] * inner + e] * weight[1])
                          : weighted_sum(source + e, inner, index, weight, taps.count[i]);
      }
    }
  }
  return output;
}

// Resizes a row-major (outer, in_h, in_w, inner) array to (outer, out_h, out_w, inner), width
// first as torch does. An axis whose size does not change is skipped because its taps would be
// the identity.
std::vector<float> resize_grid(std::span<const float> grid, std::size_t outer, std::size_t inner, std::size_t in_h,
                               std::size_t in_w, std::size_t out_h, std::size_t out_w, Interpolation mode,
                               bool antialias) {
  std::vector<float> current(grid.begin(), grid.end());
  if (in_w != out_w) {
    current = resize_axis(current, outer * in_h, inner, axis_taps(in_w, out_w, mode, antialias));
  }
  if (in_h != out_h) {
    current = resize_axis(current, outer, out_w * inner, axis_taps(in_h, out_h, mode, antialias));
  }
  return current;
}

proto::Error invalid(const std::string& function, const std::string& message) {
  return proto::make_error(proto::Errc::invalid_request, function + ": " + message);
}

std::optional<std::size_t> checked_product(std::initializer_list<std::size_t> factors) {
  std::size_t product = 1;
  for (const std::size_t factor : factors) {
    if (factor != 0 && product > SIZE_MAX / factor) {
      return std::nullopt;
    }
    product *= factor;
  }
  return product;
}

// Checks that every (name, value, limit) has 1 <= value <= limit. Returns the first violation as
// a message.
std::optional<std::string> check_sizes(std::initializer_list<std::tuple<const char*, std::size_t, std::size_t>> sizes) {
  for (const auto& [name, value, limit] : sizes) {
    if (value == 0 || value > limit) {
      return std::string(name) + " is " + std::to_string(value) + ", expected 1 to " + std::to_string(limit);
    }
  }
  return std::nullopt;
}

// Checks a channel count and the four grid sides of a resize.
std::optional<std::string> check_resize_sizes(const char* channels_name, std::size_t channels, std::size_t in_h,
                                              std::size_t in_w, std::size_t out_h, std::size_t out_w) {
  constexpr std::size_t side = k_max_resample_side;
  return check_sizes({{channels_name, channels, SIZE_MAX},
                      {"in_h", in_h, side},
                      {"in_w", in_w, side},
                      {"out_h", out_h, side},
                      {"out_w", out_w, side}});
}

// Checks that the grid and output element counts fit std::size_t and that the input matches.
proto::Result<std::size_t> checked_output_size(const std::string& function, std::size_t input_size,
                                               std::initializer_list<std::size_t> input_shape,
                                               std::initializer_list<std::size_t> output_shape) {
  const auto expected = checked_product(input_shape);
  const auto output = checked_product(output_shape);
  if (!expected || !output) {
    return invalid(function, "the element count overflows std::size_t");
  }
  if (input_size != *expected) {
    return invalid(function, "input has " + std::to_string(input_size) + " values, expected " +
                                 std::to_string(*expected) + " from the given sizes");
  }
  return *output;
}

std::size_t integer_sqrt(std::size_t value) {
  auto root = static_cast<std::size_t>(std::sqrt(static_cast<double>(value)));
  while (root > 0 && root * root > value) {
    --root;
  }
  while ((root + 1) * (root + 1) <= value) {
    ++root;
  }
  return root;
}

// Sample positions of the source relative-position axis: 0 at the centre and, on each side,
// cumulative sums 1, 1 + q, 1 + q + q^2, ... of a geometric progression. q in [1.01, 1.5] is
// bisected (in double, as Python does) until the outermost position is close to the
// destination's half width. Rounded to float32 as torch.tensor does with Python floats.
std::vector<float> geometric_positions(std::size_t src_side, std::size_t dst_side) {
  const std::size_t half = src_side / 2;
  const auto target = static_cast<double>(dst_side / 2);
  double left = 1.01;
  double right = 1.5;
  double q = left;
  while (right - left > 1e-6) {
    q = (left + right) / 2.0;
    const double sum = (1.0 - std::pow(q, static_cast<double>(half))) / (1.0 - q);
    (sum > target ? right : left) = q;
  }

  std::vector<float> positions(2 * half + 1, 0.0F);
  double distance = 1.0;
  for (std::size_t i = 0; i < half; ++i) {
    positions[half + 1 + i] = static_cast<float>(distance);
    positions[half - 1 - i] = static_cast<float>(-distance);
    distance += std::pow(q, static_cast<double>(i + 1));
  }
  return positions;
}

// Linear interpolation taps on an irregular axis, in the form timm's RegularGridInterpolator
// uses: value = (v[left] * right_distance + v[right] * left_distance) / (sum of distances).
struct IrregularTap {
  std::size_t left = 0;
  std::size_t right = 0;
  float left_distance = 0.0F;
  float right_distance = 0.0F;
};

std::vector<IrregularTap> irregular_taps(const std::vector<float>& positions, std::size_t dst_side) {
  const std::size_t last = positions.size() - 1;
  const auto half = static_cast<float>(dst_side / 2);
  std::vector<IrregularTap> taps;
  for (std::size_t i = 0; i < dst_side; ++i) {
    const float x = static_cast<float>(i) - half;
    // torch.bucketize(right=False) finds the first position >= x. Beyond the end it clamps to the
    // last pair, so targets outside the source range take the edge value.
    const auto found =
        static_cast<std::size_t>(std::lower_bound(positions.begin(), positions.end(), x) - positions.begin());
    const std::size_t right = std::min(found, last);
    const std::size_t left = right == 0 ? 0 : right - 1;
    IrregularTap tap{left, right, std::max(x - positions[left], 0.0F), std::max(positions[right] - x, 0.0F)};
    if (tap.left_distance == 0.0F && tap.right_distance == 0.0F) {
      tap.left_distance = 1.0F;
      tap.right_distance = 1.0F;
    }
    taps.push_back(tap);
  }
  return taps;
}

} // namespace

proto::Result<std::vector<float>> interpolate_2d(std::span<const float> input, std::size_t channels, std::size_t in_h,
                                                 std::size_t in_w, std::size_t out_h, std::size_t out_w,
                                                 Interpolation mode, bool antialias) {
  const std::string function = "interpolate_2d";
  if (auto bad = check_resize_sizes("channels", channels, in_h, in_w, out_h, out_w)) {
    return invalid(function, *bad);
  }
  const auto output_size =
      checked_output_size(function, input.size(), {channels, in_h, in_w}, {channels, out_h, out_w});
  if (!output_size) {
    return output_size.error();
  }

  return resize_grid(input, channels, 1, in_h, in_w, out_h, out_w, mode, antialias);
}

proto::Result<std::vector<float>> resample_abs_pos_embed(std::span<const float> table, std::size_t dim,
                                                         std::size_t prefix, std::size_t in_h, std::size_t in_w,
                                                         std::size_t out_h, std::size_t out_w, Interpolation mode,
                                                         bool antialias) {
  const std::string function = "resample_abs_pos_embed";
  if (auto bad = check_resize_sizes("dim", dim, in_h, in_w, out_h, out_w)) {
    return invalid(function, *bad);
  }
  const auto in_rows = checked_product({in_h, in_w});
  const auto out_rows = checked_product({out_h, out_w});
  if (!in_rows || !out_rows || prefix > SIZE_MAX - std::max(*in_rows, *out_rows)) {
    return invalid(function, "the row count overflows std::size_t");
  }
  const auto output_size =
      checked_output_size(function, table.size(), {prefix + *in_rows, dim}, {prefix + *out_rows, dim});
  if (!output_size) {
    return output_size.error();
  }

  if (in_h == out_h && in_w == out_w) {
    return std::vector<float>(table.begin(), table.end());
  }
  const std::size_t prefix_values = prefix * dim;
  std::vector<float> output(table.begin(), table.begin() + static_cast<std::ptrdiff_t>(prefix_values));
  output.reserve(*output_size);
  const auto grid = resize_grid(table.subspan(prefix_values), 1, dim, in_h, in_w, out_h, out_w, mode, antialias);
  output.insert(output.end(), grid.begin(), grid.end());
  return output;
}

proto::Result<std::vector<float>> resize_rel_pos_bias_table(std::span<const float> table, std::size_t src_rows,
                                                            std::size_t heads, std::size_t dst_window_h,
                                                            std::size_t dst_window_w, std::size_t extra_rows) {
  const std::string function = "resize_rel_pos_bias_table";
  if (auto bad = check_sizes({{"src_rows", src_rows, SIZE_MAX},
                              {"heads", heads, SIZE_MAX},
                              {"dst_window_h", dst_window_h, k_max_resample_side},
                              {"dst_window_w", dst_window_w, k_max_resample_side}})) {
    return invalid(function, *bad);
  }
  if (extra_rows >= src_rows) {
    return invalid(function, "extra_rows is " + std::to_string(extra_rows) + " but the table has only " +
                                 std::to_string(src_rows) + " rows");
  }
  const std::size_t src_grid_rows = src_rows - extra_rows;
  const std::size_t src_side = integer_sqrt(src_grid_rows);
  if (src_side * src_side != src_grid_rows || src_side % 2 == 0) {
    return invalid(function, std::to_string(src_grid_rows) +
                                 " grid rows (src_rows - extra_rows) are not (2 * window - 1)^2 for a square "
                                 "source window; non-square source windows are not supported");
  }
  const std::size_t dst_h = 2 * dst_window_h - 1;
  const std::size_t dst_w = 2 * dst_window_w - 1;
  const auto dst_grid_rows = checked_product({dst_h, dst_w});
  if (!dst_grid_rows || *dst_grid_rows > SIZE_MAX - extra_rows) {
    return invalid(function, "the destination row count overflows std::size_t");
  }
  const auto output_size =
      checked_output_size(function, table.size(), {src_rows, heads}, {*dst_grid_rows + extra_rows, heads});
  if (!output_size) {
    return output_size.error();
  }

  if (src_side == dst_h && src_side == dst_w) {
    return std::vector<float>(table.begin(), table.end());
  }
  const auto rows = irregular_taps(geometric_positions(src_side, dst_h), dst_h);
  const auto columns = irregular_taps(geometric_positions(src_side, dst_w), dst_w);
  std::vector<float> output(*output_size);
  for (std::size_t y = 0; y < dst_h; ++y) {
    const IrregularTap& r = rows[y];
    for (std::size_t x = 0; x < dst_w; ++x) {
      const IrregularTap& c = columns[x];
      // The corners in timm's order: top left, top right, bottom left, bottom right. Each is
      // weighted by its distances to the opposite corner, and the products are summed in order.
      const std::size_t corners[4] = {r.left * src_side + c.left, r.left * src_side + c.right,
                                      r.right * src_side + c.left, r.right * src_side + c.right};
      const float weights[4] = {r.right_distance * c.right_distance, r.right_distance * c.left_distance,
                                r.left_distance * c.right_distance, r.left_distance * c.left_distance};
      const float denominator = (r.left_distance + r.right_distance) * (c.left_distance + c.right_distance);
      float* target = output.data() + (y * dst_w + x) * heads;
      for (std::size_t h = 0; h < heads; ++h) {
        float numerator = table[corners[0] * heads + h] * weights[0];
        for (std::size_t k = 1; k < 4; ++k) {
          numerator += table[corners[k] * heads + h] * weights[k];
        }
        target[h] = numerator / denominator;
      }
    }
  }
  std::copy(table.end() - static_cast<std::ptrdiff_t>(extra_rows * heads), table.end(),
            output.begin() + static_cast<std::ptrdiff_t>(*dst_grid_rows * heads));
  return output;
}

proto::Result<std::vector<float>> resize_rel_pos_bias_table(std::span<const float> table, std::size_t src_rows,
                                                            std::size_t heads, std::size_t dst_window_h,
                                                            std::size_t dst_window_w) {
  std::size_t side = integer_sqrt(src_rows);
  if (side % 2 == 0 && side > 0) {
    --side;
  }
  return resize_rel_pos_bias_table(table, src_rows, heads, dst_window_h, dst_window_w, src_rows - side * side);
}

proto::Result<std::vector<float>> resize_rel_pos_bias_table_levit(std::span<const float> table, std::size_t rows,
                                                                  std::size_t heads, std::size_t dst_rows) {
  const std::string function = "resize_rel_pos_bias_table_levit";
  const std::size_t side = integer_sqrt(rows);
  const std::size_t dst_side = integer_sqrt(dst_rows);
  if (auto bad = check_sizes({{"heads", heads, SIZE_MAX},
                              {"sqrt(rows)", side, k_max_resample_side},
                              {"sqrt(dst_rows)", dst_side, k_max_resample_side}})) {
    return invalid(function, *bad);
  }
  if (side * side != rows || dst_side * dst_side != dst_rows) {
    return invalid(function, "rows " + std::to_string(rows) + " and dst_rows " + std::to_string(dst_rows) +
                                 " must both be perfect squares");
  }
  const auto output_size = checked_output_size(function, table.size(), {rows, heads}, {dst_rows, heads});
  if (!output_size) {
    return output_size.error();
  }

  if (rows == dst_rows) {
    return std::vector<float>(table.begin(), table.end());
  }
  return resize_grid(table, 1, heads, side, side, dst_side, dst_side, Interpolation::bicubic, true);
}

} // namespace timmd::remap

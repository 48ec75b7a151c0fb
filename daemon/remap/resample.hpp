// Resamplers for position tables that reproduce timm's checkpoint adaptation
// (timm.layers.resample_abs_pos_embed, resize_rel_pos_bias_table and its LeViT variant) with the
// numerics of PyTorch 1.13 on CPU.
//
// All data is float32 and row-major. The functions compute in float32 in the order torch does, so
// results agree with torch to within a few float32 ulps. The tests hold them to
// |diff| <= 1e-5 + 1e-5 * |expected| against goldens written by torch.
//
// Each function validates its sizes. It returns an invalid_request error naming the value when a
// size is zero, does not match the span, overflows std::size_t or exceeds k_max_resample_side.
#pragma once

#include "proto/error.hpp"

#include <cstddef>
#include <span>
#include <vector>

namespace timmd::remap {

enum class Interpolation { bilinear, bicubic };

// Largest accepted grid side or window size. torch computes the scale and some source positions
// in float32, which represents integers exactly only up to 2^24, so larger grids could not match
// torch anyway.
inline constexpr std::size_t k_max_resample_side = std::size_t{1} << 24U;

// Resizes a (channels, in_h, in_w) array to (channels, out_h, out_w) like
// torch.nn.functional.interpolate(x, size=(out_h, out_w), mode, align_corners=False, antialias).
// Without antialias, bilinear clamps negative source positions to 0 and bicubic uses the Keys
// kernel with a = -0.75 and clamped tap indices. With antialias, both use Pillow-style filters
// (triangle, or cubic with a = -0.5) whose support widens by in/out when downsampling and whose
// weights are renormalised at the borders. The width axis is resized first, then the height.
// When the sizes are equal the input is returned unchanged.
proto::Result<std::vector<float>> interpolate_2d(std::span<const float> input, std::size_t channels, std::size_t in_h,
                                                 std::size_t in_w, std::size_t out_h, std::size_t out_w,
                                                 Interpolation mode, bool antialias);

// timm.layers.resample_abs_pos_embed on a (prefix + in_h * in_w, dim) table. The first `prefix`
// rows (class, distillation and register tokens) are kept unchanged in front. The grid rows,
// row-major over (h, w), are resized to out_h x out_w as interpolate_2d does, with each of the
// `dim` columns as one channel. Returns (prefix + out_h * out_w, dim), or the input unchanged
// when the grid sizes are equal. timm's defaults are bicubic with antialias.
proto::Result<std::vector<float>> resample_abs_pos_embed(std::span<const float> table, std::size_t dim,
                                                         std::size_t prefix, std::size_t in_h, std::size_t in_w,
                                                         std::size_t out_h, std::size_t out_w, Interpolation mode,
                                                         bool antialias);

// timm.layers.resize_rel_pos_bias_table with its default linear interpolator (not the scipy
// cubic one selected by TIMM_USE_SCIPY_INTERP=1) on a flat (src_rows, heads) table. The first
// s * s rows are the relative position grid of a square source window, s = 2 * window - 1, and
// the `extra_rows` after them (3 in BEiT, for the class token) are copied to the end unchanged.
// The result has (2 * dst_window_h - 1) * (2 * dst_window_w - 1) + extra_rows rows. The source
// grid is sampled at positions spaced in a geometric progression whose ratio is found by
// bisection, then read per head at the uniform destination positions by bilinear interpolation.
// Returns the input unchanged when the grid sizes are equal. Fails when src_rows - extra_rows is
// not the square of an odd number.
proto::Result<std::vector<float>> resize_rel_pos_bias_table(std::span<const float> table, std::size_t src_rows,
                                                            std::size_t heads, std::size_t dst_window_h,
                                                            std::size_t dst_window_w, std::size_t extra_rows);

// The same, with extra_rows inferred from src_rows: s is the largest odd number with
// s * s <= src_rows, and the rest are extra rows. timm derives the count from the destination
// table instead, and both agree whenever extra_rows < 4 * s + 4, which holds for BEiT's 3 rows and
// any window. Use the overload above when the destination table shape is known.
proto::Result<std::vector<float>> resize_rel_pos_bias_table(std::span<const float> table, std::size_t src_rows,
                                                            std::size_t heads, std::size_t dst_window_h,
                                                            std::size_t dst_window_w);

// timm.layers.resize_rel_pos_bias_table_levit (TinyViT attention biases): the (rows, heads)
// table is read as `heads` square grids of side sqrt(rows), resized to sqrt(dst_rows) with
// bicubic antialias interpolation, and returned as (dst_rows, heads). Returns the input unchanged
// when rows == dst_rows. Fails when rows or dst_rows is not a perfect square.
proto::Result<std::vector<float>> resize_rel_pos_bias_table_levit(std::span<const float> table, std::size_t rows,
                                                                  std::size_t heads, std::size_t dst_rows);

} // namespace timmd::remap

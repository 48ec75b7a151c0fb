// The rule steps: key renames and drops, shape operations and the resizes of K11/K12.
#include "daemon/remap/float_codec.hpp"
#include "daemon/remap/remap_state.hpp"
#include "daemon/remap/tensor_ops.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace timmd::remap {
namespace {

using tensors::AlignedBuffer;

// Largest grid a position embedding is resized to (4096 patches on a side) and largest window
// of a relative position table. Both are far beyond any timm model, so they only bound what a
// request can make the daemon allocate.
constexpr std::uint64_t k_max_grid_tokens = 4096ULL * 4096ULL;
constexpr std::uint64_t k_max_window = 1024;
// A tensor a rule creates from nothing is a bias or a token: small.
constexpr std::uint64_t k_max_zeros_bytes = 256ULL << 20U;

bool holds(const Condition& condition, RemapState& state) {
  switch (condition.kind) {
  case Condition::Kind::has_key:
    return state.find(condition.key) != nullptr;
  case Condition::Kind::has_match:
    return std::any_of(state.tensors().begin(), state.tensors().end(),
                       [&](const TensorValue& t) { return condition.regex->search(t.name); });
  case Condition::Kind::target_has:
    return state.input.filter.manifest && state.input.filter.manifest->find(condition.key) != nullptr;
  case Condition::Kind::model_arg:
    return state.input.model.flag(condition.key);
  case Condition::Kind::all:
    return std::all_of(condition.children.begin(), condition.children.end(),
                       [&](const Condition& c) { return holds(c, state); });
  case Condition::Kind::any:
    return std::any_of(condition.children.begin(), condition.children.end(),
                       [&](const Condition& c) { return holds(c, state); });
  case Condition::Kind::negation:
    return !holds(condition.children.front(), state);
  }
  return false;
}

std::size_t element_size(const TensorValue& value) {
  return tensors::bit_width(value.dtype) / 8;
}

// Names of the tensors a step with a pattern applies to, taken before the step changes them.
std::vector<std::string> matching(RemapState& state, const Step& step) {
  std::vector<std::string> names;
  for (const auto& tensor : state.tensors()) {
    if (!step.pattern || step.pattern->search(tensor.name)) {
      names.push_back(tensor.name);
    }
  }
  return names;
}

proto::Result<void> check_unique(RemapState& state, const Step& step) {
  std::set<std::string> seen;
  for (const auto& tensor : state.tensors()) {
    if (!seen.insert(tensor.name).second) {
      return RemapState::step_error(step, tensor.name, "two tensors end up with this name; make the rule tell them apart");
    }
  }
  return {};
}

proto::Result<void> require_whole_bytes(const Step& step, const TensorValue& value) {
  if (tensors::bit_width(value.dtype) % 8 != 0) {
    return RemapState::step_error(step, value.name, "cannot move elements of the sub-byte dtype " +
                                                        std::string(tensors::safetensors_name(value.dtype)));
  }
  return {};
}

// Python slice bounds on an extent: negatives count from the end, out-of-range values clamp.
std::pair<std::uint64_t, std::uint64_t> python_range(std::int64_t start, std::optional<std::int64_t> end,
                                                     std::uint64_t extent) {
  const auto clamp = [extent](std::int64_t v) {
    const auto n = static_cast<std::int64_t>(extent);
    if (v < 0) {
      v += n;
    }
    return static_cast<std::uint64_t>(std::clamp<std::int64_t>(v, 0, n));
  };
  const auto first = clamp(start);
  const auto last = end ? clamp(*end) : extent;
  return {first, std::max(first, last)};
}

// [start, end) along `dim`; rows of the first dimension of a stored tensor stay in the source.
proto::Result<TensorValue> take_range(RemapState& state, const Step& step, const TensorValue& value, std::size_t dim,
                                      std::uint64_t start, std::uint64_t end) {
  if (auto whole = require_whole_bytes(step, value); !whole) {
    return whole.error();
  }
  TensorValue out = value;
  out.shape[dim] = end - start;
  const std::uint64_t row_bytes = inner_count(value.shape, dim) * element_size(value);
  if (dim == 0 && !value.is_computed()) {
    out.source_byte_offset += start * row_bytes;
    out.byte_length = (end - start) * row_bytes;
    return out;
  }
  auto data = state.bytes(value);
  if (!data) {
    return data.error();
  }
  auto sliced = slice_bytes((*data)->bytes(), element_size(value), value.shape, dim, start, end);
  return make_computed(value.name, value.dtype, out.shape, std::move(sliced));
}

proto::Result<TensorValue> from_floats(const TensorValue& like, std::vector<std::uint64_t> shape,
                                       const std::vector<float>& values) {
  auto encoded = encode_floats(like.dtype, values, like.name);
  if (!encoded) {
    return encoded.error();
  }
  return make_computed(like.name, like.dtype, std::move(shape), std::move(*encoded));
}

proto::Result<void> run_reshape(RemapState& state, const Step& step) {
  for (auto& tensor : state.tensors()) {
    if (!step.pattern->search(tensor.name)) {
      continue;
    }
    const auto count = tensors::element_count(tensor.shape).value_or(0);
    std::vector<std::uint64_t> shape;
    if (step.shape_from_target) {
      const auto* target = state.input.filter.manifest ? state.input.filter.manifest->find(tensor.name) : nullptr;
      if (target == nullptr || tensors::element_count(target->shape).value_or(0) != count) {
        continue; // timm reshapes only when the model's tensor has the same number of elements
      }
      shape = target->shape;
    } else {
      std::uint64_t known = 1;
      for (const auto extent : step.shape) {
        known *= extent < 0 ? 1 : static_cast<std::uint64_t>(extent);
      }
      // The -1 extent takes what the others leave; with a zero extent among them it is 0.
      const std::uint64_t inferred = known == 0 ? 0 : count / known;
      for (const auto extent : step.shape) {
        shape.push_back(extent < 0 ? inferred : static_cast<std::uint64_t>(extent));
      }
      if (tensors::element_count(shape).value_or(0) != count) {
        return RemapState::step_error(step, tensor.name, "shape " + format_shape(tensor.shape) +
                                                             " cannot be reshaped to " + format_shape(shape));
      }
    }
    tensor.shape = std::move(shape);
  }
  return {};
}

proto::Result<void> run_permute(RemapState& state, const Step& step) {
  for (auto& tensor : state.tensors()) {
    if (!step.pattern->search(tensor.name)) {
      continue;
    }
    if (tensor.shape.size() != step.dims.size()) {
      return RemapState::step_error(step, tensor.name, "has shape " + format_shape(tensor.shape) + " but the step permutes " +
                                                           std::to_string(step.dims.size()) + " dimensions");
    }
    if (auto whole = require_whole_bytes(step, tensor); !whole) {
      return whole.error();
    }
    auto data = state.bytes(tensor);
    if (!data) {
      return data.error();
    }
    std::vector<std::uint64_t> shape;
    for (const auto d : step.dims) {
      shape.push_back(tensor.shape[d]);
    }
    auto moved = permute_bytes((*data)->bytes(), element_size(tensor), tensor.shape, step.dims);
    tensor = make_computed(tensor.name, tensor.dtype, std::move(shape), std::move(moved));
  }
  return {};
}

proto::Result<void> run_split(RemapState& state, const Step& step) {
  auto& tensors = state.tensors();
  for (const auto& name : matching(state, step)) {
    const TensorValue value = *state.find(name);
    const std::size_t chunks = step.into.size();
    if (step.dim >= value.shape.size() || value.shape[step.dim] % chunks != 0) {
      return RemapState::step_error(step, name, "shape " + format_shape(value.shape) + " does not split into " +
                                                    std::to_string(chunks) + " equal parts along dimension " +
                                                    std::to_string(step.dim));
    }
    const std::uint64_t rows = value.shape[step.dim] / chunks;
    std::vector<TensorValue> parts;
    for (std::size_t i = 0; i < chunks; ++i) {
      if (step.into[i].empty()) {
        continue;
      }
      auto part = take_range(state, step, value, step.dim, i * rows, (i + 1) * rows);
      auto part_name = step.pattern->sub(step.into[i], name, 1);
      if (!part || !part_name) {
        return !part ? part.error() : part_name.error();
      }
      part->name = std::move(*part_name);
      parts.push_back(std::move(*part));
    }
    const auto at = tensors.erase(std::find_if(tensors.begin(), tensors.end(), [&](auto& t) { return t.name == name; }));
    tensors.insert(at, parts.begin(), parts.end());
  }
  return check_unique(state, step);
}

proto::Result<void> run_unstack(RemapState& state, const Step& step) {
  auto& tensors = state.tensors();
  for (const auto& name : matching(state, step)) {
    const TensorValue value = *state.find(name);
    if (step.dim >= value.shape.size()) {
      return RemapState::step_error(step, name, "has no dimension " + std::to_string(step.dim) + " to unstack");
    }
    std::vector<TensorValue> parts;
    for (std::uint64_t i = 0; i < value.shape[step.dim]; ++i) {
      auto part = take_range(state, step, value, step.dim, i, i + 1);
      auto to = step.to;
      to.replace(to.find("{i}"), 3, std::to_string(i));
      auto part_name = step.pattern->sub(to, name, 1);
      if (!part || !part_name) {
        return !part ? part.error() : part_name.error();
      }
      part->name = std::move(*part_name);
      part->shape.erase(part->shape.begin() + static_cast<std::ptrdiff_t>(step.dim));
      parts.push_back(std::move(*part));
    }
    const auto at = tensors.erase(std::find_if(tensors.begin(), tensors.end(), [&](auto& t) { return t.name == name; }));
    tensors.insert(at, parts.begin(), parts.end());
  }
  return check_unique(state, step);
}

proto::Result<void> run_concat(RemapState& state, const Step& step) {
  auto& tensors = state.tensors();
  for (const auto& name : matching(state, step)) {
    if (state.find(name) == nullptr) {
      continue; // already joined as a part of an earlier match
    }
    std::vector<std::string> part_names;
    for (const auto& part : step.parts) {
      auto part_name = step.pattern->sub(part, name, 1);
      if (!part_name) {
        return part_name.error();
      }
      part_names.push_back(std::move(*part_name));
    }
    auto target = step.pattern->sub(step.to, name, 1);
    if (!target) {
      return target.error();
    }
    // timm's BEiT-3 conversion drops a q/k/v group that is incomplete; so does this step.
    const bool complete = std::all_of(part_names.begin(), part_names.end(), [&](auto& n) { return state.find(n) != nullptr; });
    std::vector<std::span<const std::byte>> spans;
    std::vector<std::shared_ptr<const AlignedBuffer>> keep;
    std::vector<Shape> shapes;
    const TensorValue* first = complete ? state.find(part_names.front()) : nullptr;
    for (const auto& part_name : part_names) {
      const auto* part = state.find(part_name);
      if (!complete || part == nullptr) {
        continue;
      }
      if (part->dtype != first->dtype || part->shape.size() != first->shape.size() || step.dim >= part->shape.size()) {
        return RemapState::step_error(step, part_name, "cannot be joined with '" + first->name + "': dtype or rank differs");
      }
      for (std::size_t d = 0; d < part->shape.size(); ++d) {
        if (d != step.dim && part->shape[d] != first->shape[d]) {
          return RemapState::step_error(step, part_name, "shape " + format_shape(part->shape) + " does not match " +
                                                             format_shape(first->shape) + " outside dimension " +
                                                             std::to_string(step.dim));
        }
      }
      if (auto whole = require_whole_bytes(step, *part); !whole) {
        return whole.error();
      }
      auto data = state.bytes(*part);
      if (!data) {
        return data.error();
      }
      keep.push_back(*data);
      spans.push_back((*data)->bytes());
      shapes.push_back(part->shape);
    }
    std::optional<TensorValue> joined;
    if (complete) {
      Shape shape = first->shape;
      shape[step.dim] = 0;
      for (const auto& s : shapes) {
        shape[step.dim] += s[step.dim];
      }
      joined = make_computed(*target, first->dtype, shape,
                             concat_bytes(spans, tensors::bit_width(first->dtype) / 8, shapes, step.dim));
    } else {
      state.result.notes.push_back("dropped the incomplete group of '" + *target + "' (" + step.where + ")");
    }
    const auto at = std::find_if(tensors.begin(), tensors.end(), [&](auto& t) {
      return std::find(part_names.begin(), part_names.end(), t.name) != part_names.end();
    });
    const auto index = static_cast<std::size_t>(at - tensors.begin());
    std::erase_if(tensors, [&](auto& t) { return std::find(part_names.begin(), part_names.end(), t.name) != part_names.end(); });
    if (joined) {
      tensors.insert(tensors.begin() + static_cast<std::ptrdiff_t>(std::min(index, tensors.size())), std::move(*joined));
    }
  }
  return check_unique(state, step);
}

std::optional<std::uint64_t> exact_sqrt(std::uint64_t n) {
  auto root = static_cast<std::uint64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  return root * root == n ? std::optional(root) : std::nullopt;
}

// The patch grid the model has at the requested img_size (else the model_args one): img_size
// divided by the patch kernel's extent, floored as timm's PatchEmbed does. nullopt when neither
// the request nor the model arguments give an image size, or the kernel is not 4-D.
std::optional<Size2> grid_from_img_size(RemapState& state, const std::string& patch_key) {
  const auto& model = state.input.model;
  std::optional<Size2> img = state.input.filter.img_size;
  if (!img && model.model_args.contains("img_size")) {
    const auto& arg = model.model_args["img_size"];
    const auto extent = [](const nlohmann::json& v) { return v.is_number_integer() && v.get<std::int64_t>() > 0; };
    if (extent(arg)) {
      img = Size2{arg.get<std::uint64_t>(), arg.get<std::uint64_t>()};
    } else if (arg.is_array() && arg.size() == 2 && extent(arg[0]) && extent(arg[1])) {
      img = Size2{arg[0].get<std::uint64_t>(), arg[1].get<std::uint64_t>()};
    }
  }
  const auto* patch = state.find(patch_key);
  if (!img || patch == nullptr || patch->shape.size() != 4 || patch->shape[2] == 0 || patch->shape[3] == 0) {
    return std::nullopt;
  }
  return Size2{(*img)[0] / patch->shape[2], (*img)[1] / patch->shape[3]};
}

proto::Result<void> run_resize_pos_embed(RemapState& state, const Step& step) {
  auto* tensor = state.find(step.key);
  if (tensor == nullptr) {
    return {};
  }
  const auto& filter = state.input.filter;
  const auto& model = state.input.model;
  if (tensor->shape.size() != 3 || tensor->shape[0] != 1 || !is_floating(tensor->dtype)) {
    return RemapState::step_error(step, step.key, "expected a floating (1, tokens, dim) tensor, found " +
                                                      format_shape(tensor->shape));
  }
  const std::uint64_t tokens = tensor->shape[1];
  const std::uint64_t dim = tensor->shape[2];

  std::uint64_t prefix = step.prefix_tokens.value_or(0);
  for (const auto& key : step.prefix_token_keys) {
    if (const auto* token = state.find(key); token != nullptr && token->shape.size() >= 2) {
      prefix += token->shape[token->shape.size() - 2];
    }
  }
  if (!step.no_embed_class_arg.empty() && model.flag(step.no_embed_class_arg)) {
    prefix = 0;
  }
  if (filter.manifest && filter.manifest->num_prefix_tokens) {
    prefix = *filter.manifest->num_prefix_tokens;
  }
  if (prefix > tokens) {
    return RemapState::step_error(step, step.key, std::to_string(prefix) + " prefix tokens do not fit in " +
                                                      format_shape(tensor->shape));
  }
  // A model built with no_embed_class (DINOv2 with registers) keeps its class and register
  // tokens out of the position table. When only the whole table is a square grid, that is
  // the layout, whatever the model arguments claim.
  if (!exact_sqrt(tokens - prefix) && exact_sqrt(tokens) && !(filter.manifest && filter.manifest->num_prefix_tokens)) {
    prefix = 0;
  }
  const auto side = exact_sqrt(tokens - prefix);
  if (!side) {
    return RemapState::step_error(step, step.key, std::to_string(tokens - prefix) +
                                                      " grid tokens are not a square grid; give the prefix token count "
                                                      "as manifest num_prefix_tokens");
  }

  std::optional<Size2> grid;
  const auto* target = filter.manifest ? filter.manifest->find(step.key) : nullptr;
  if (target != nullptr) {
    if (target->shape.size() != 3 || target->shape[1] < prefix) {
      return RemapState::step_error(step, step.key, "the manifest gives the shape " + format_shape(target->shape));
    }
    if (filter.manifest->grid_size) {
      grid = filter.manifest->grid_size;
    } else if (const auto target_side = exact_sqrt(target->shape[1] - prefix)) {
      grid = Size2{*target_side, *target_side};
    } else {
      return RemapState::step_error(step, step.key, "the manifest's " + std::to_string(target->shape[1] - prefix) +
                                                        " grid tokens are not square; add grid_size to the manifest");
    }
  } else {
    grid = grid_from_img_size(state, step.patch_key);
    if (!grid) {
      return {};
    }
  }
  if ((*grid)[0] == *side && (*grid)[1] == *side) {
    return {};
  }
  if ((*grid)[0] == 0 || (*grid)[1] == 0 || (*grid)[0] * (*grid)[1] > k_max_grid_tokens) {
    const auto* patch = state.find(step.patch_key);
    const std::string patch_size = patch != nullptr && patch->shape.size() == 4
                                       ? std::to_string(patch->shape[2]) + "x" + std::to_string(patch->shape[3])
                                       : std::string("?");
    return RemapState::step_error(step, step.key, "img_size gives a grid of " + std::to_string((*grid)[0]) + "x" +
                                                      std::to_string((*grid)[1]) + " patches of " + patch_size +
                                                      " pixels; use an img_size from one patch up to 4096 patches "
                                                      "on a side");
  }

  auto values = state.floats(*tensor);
  if (!values) {
    return values.error();
  }
  auto resized = resample_abs_pos_embed(*values, dim, prefix, *side, *side, (*grid)[0], (*grid)[1],
                                        step.interpolation, step.antialias);
  if (!resized) {
    return RemapState::step_error(step, step.key, resized.error().message);
  }
  auto value = from_floats(*tensor, {1, prefix + (*grid)[0] * (*grid)[1], dim}, *resized);
  if (!value) {
    return value.error();
  }
  state.result.notes.push_back("resized " + step.key + " from a " + std::to_string(*side) + "x" + std::to_string(*side) +
                               " to a " + std::to_string((*grid)[0]) + "x" + std::to_string((*grid)[1]) + " grid (prefix rows kept: " +
                               std::to_string(prefix) + ")");
  *tensor = std::move(*value);
  return {};
}

proto::Result<void> run_resize_rel_pos_table(RemapState& state, const Step& step) {
  const auto& filter = state.input.filter;
  for (auto& tensor : state.tensors()) {
    if (!step.pattern->search(tensor.name) || tensor.shape.size() != 2 || !is_floating(tensor.dtype)) {
      continue;
    }
    const std::uint64_t rows = tensor.shape[0];
    const std::uint64_t heads = tensor.shape[1];
    // The source window is square; rows past its (2W-1)^2 grid are extra tokens (BEiT has 3).
    const auto span = static_cast<std::uint64_t>(std::floor(std::sqrt(static_cast<double>(rows))));
    const std::uint64_t src_span = span % 2 == 1 ? span : span - 1;
    const std::uint64_t extra = rows - src_span * src_span;

    std::optional<Size2> window;
    const auto* target = filter.manifest ? filter.manifest->find(tensor.name) : nullptr;
    if (target != nullptr && target->shape.size() == 2 && target->shape[1] == heads) {
      if (target->shape[0] == rows && !(filter.manifest->window_size &&
                                        (*filter.manifest->window_size)[0] != (*filter.manifest->window_size)[1])) {
        continue;
      }
      if (filter.manifest->window_size) {
        window = filter.manifest->window_size;
      } else if (const auto dst_span = exact_sqrt(target->shape[0] - std::min(extra, target->shape[0]));
                 dst_span && *dst_span % 2 == 1) {
        window = Size2{(*dst_span + 1) / 2, (*dst_span + 1) / 2};
      } else {
        return RemapState::step_error(step, tensor.name, "the manifest's shape " + format_shape(target->shape) +
                                                             " is not a square window table; add window_size to the "
                                                             "manifest");
      }
    } else if (filter.window_size) {
      window = filter.window_size;
    } else if (!step.patch_key.empty()) {
      // BEiT's attention window is its patch grid.
      window = grid_from_img_size(state, step.patch_key);
    }
    if (!window || ((*window)[0] * 2 - 1 == src_span && (*window)[1] * 2 - 1 == src_span)) {
      continue;
    }
    if ((*window)[0] == 0 || (*window)[1] == 0 || (*window)[0] > k_max_window || (*window)[1] > k_max_window) {
      return RemapState::step_error(step, tensor.name, "the target window " + std::to_string((*window)[0]) + "x" +
                                                           std::to_string((*window)[1]) +
                                                           " is empty or larger than 1024; check window_size");
    }
    auto values = state.floats(tensor);
    if (!values) {
      return values.error();
    }
    auto resized = resize_rel_pos_bias_table(*values, rows, heads, (*window)[0], (*window)[1], extra);
    if (!resized) {
      return RemapState::step_error(step, tensor.name, resized.error().message);
    }
    const std::uint64_t out_rows = (2 * (*window)[0] - 1) * (2 * (*window)[1] - 1) + extra;
    auto value = from_floats(tensor, {out_rows, heads}, *resized);
    if (!value) {
      return value.error();
    }
    tensor = std::move(*value);
  }
  return {};
}

proto::Result<void> run_zeros(RemapState& state, const Step& step) {
  std::vector<std::uint64_t> shape;
  for (const auto& extent : step.zeros_shape) {
    if (extent.literal) {
      shape.push_back(*extent.literal);
      continue;
    }
    const auto* of = state.find(extent.of);
    if (of == nullptr || extent.dim >= of->shape.size()) {
      return RemapState::step_error(step, step.key, "needs dimension " + std::to_string(extent.dim) + " of '" +
                                                        extent.of + "', which the state dict lacks");
    }
    shape.push_back(of->shape[extent.dim]);
  }
  const auto size = byte_size(step.dtype, shape);
  if (!size || *size > k_max_zeros_bytes) {
    return RemapState::step_error(step, step.key, "the shape " + format_shape(shape) + " is too large");
  }
  AlignedBuffer zeros(*size, 64);
  std::fill(zeros.bytes().begin(), zeros.bytes().end(), std::byte{0});
  auto value = make_computed(step.key, step.dtype, shape, std::move(zeros));
  if (auto* existing = state.find(step.key)) {
    *existing = std::move(value);
  } else {
    state.tensors().push_back(std::move(value));
  }
  return {};
}

proto::Result<void> run_add(RemapState& state, const Step& step) {
  auto* tensor = state.find(step.key);
  const auto* other = state.find(step.other);
  if (tensor == nullptr || other == nullptr) {
    return {};
  }
  if (!is_floating(tensor->dtype) || !is_floating(other->dtype) || step.dim >= other->shape.size()) {
    return RemapState::step_error(step, step.key, "adds floating tensors only, along a dimension of '" + step.other + "'");
  }
  const auto [first, last] = python_range(step.other_start.value_or(0), step.other_end, other->shape[step.dim]);
  auto addend = take_range(state, step, *other, step.dim, first, last);
  if (!addend) {
    return addend.error();
  }
  auto a = state.floats(*tensor);
  auto b = state.floats(*addend);
  if (!a || !b) {
    return !a ? a.error() : b.error();
  }
  if (a->size() != b->size()) {
    return RemapState::step_error(step, step.key, format_shape(tensor->shape) + " and " + format_shape(addend->shape) +
                                                      " differ in element count");
  }
  for (std::size_t i = 0; i < a->size(); ++i) {
    (*a)[i] += (*b)[i];
  }
  auto value = from_floats(*tensor, tensor->shape, *a);
  if (!value) {
    return value.error();
  }
  *tensor = std::move(*value);
  return {};
}

proto::Result<void> run_map(RemapState& state, const Step& step) {
  for (auto& tensor : state.tensors()) {
    if (!step.pattern->search(tensor.name) || !is_floating(tensor.dtype)) {
      continue;
    }
    auto values = state.floats(tensor);
    if (!values) {
      return values.error();
    }
    for (auto& v : *values) {
      const float f = step.function == "abs"          ? std::fabs(v)
                      : step.function == "neg"        ? -v
                      : step.function == "log"        ? std::log(v)
                      : step.function == "exp"        ? std::exp(v)
                      : step.function == "reciprocal" ? 1.0F / v
                                                      : v;
      v = f * step.mul + step.offset;
    }
    auto value = from_floats(tensor, tensor.shape, *values);
    if (!value) {
      return value.error();
    }
    tensor = std::move(*value);
  }
  return {};
}

proto::Result<void> run_step(RemapState& state, const Step& step) {
  auto& tensors = state.tensors();
  switch (step.kind) {
  case Step::Kind::unwrap:
    for (bool stripped = true; stripped && !tensors.empty();) {
      stripped = false;
      for (const auto& prefix : step.prefixes) {
        if (std::all_of(tensors.begin(), tensors.end(), [&](auto& t) { return t.name.starts_with(prefix); })) {
          for (auto& t : tensors) {
            t.name.erase(0, prefix.size());
          }
          stripped = !prefix.empty();
        }
      }
    }
    return check_unique(state, step);
  case Step::Kind::take_prefix:
    std::erase_if(tensors, [&](auto& t) { return !t.name.starts_with(step.prefix); });
    for (auto& t : tensors) {
      t.name.erase(0, step.prefix.size());
    }
    return check_unique(state, step);
  case Step::Kind::add_prefix:
    for (auto& t : tensors) {
      t.name.insert(0, step.prefix);
    }
    return {};
  case Step::Kind::replace:
    for (auto& t : tensors) {
      if (step.pattern && !step.pattern->search(t.name)) {
        continue;
      }
      for (auto at = t.name.find(step.from); at != std::string::npos; at = t.name.find(step.from, at + step.to.size())) {
        t.name.replace(at, step.from.size(), step.to);
      }
    }
    return check_unique(state, step);
  case Step::Kind::rename:
    for (auto& t : tensors) {
      auto renamed = step.pattern->sub(step.to, t.name, step.count);
      if (!renamed) {
        return RemapState::step_error(step, t.name, renamed.error().message);
      }
      t.name = std::move(*renamed);
    }
    return check_unique(state, step);
  case Step::Kind::drop:
    std::erase_if(tensors, [&](auto& t) {
      return (step.pattern && step.pattern->search(t.name)) ||
             std::find(step.keys.begin(), step.keys.end(), t.name) != step.keys.end();
    });
    return {};
  case Step::Kind::reshape:
    return run_reshape(state, step);
  case Step::Kind::flatten:
    for (auto& t : tensors) {
      if (!step.pattern->search(t.name) || step.dim + 1 >= t.shape.size()) {
        continue; // already flat from `dim` on
      }
      std::uint64_t merged = 1;
      for (std::size_t d = step.dim; d < t.shape.size(); ++d) {
        merged *= t.shape[d];
      }
      t.shape.resize(step.dim + 1);
      t.shape[step.dim] = merged;
    }
    return {};
  case Step::Kind::unstack:
    return run_unstack(state, step);
  case Step::Kind::unsqueeze:
    for (auto& t : tensors) {
      if (!step.pattern->search(t.name)) {
        continue;
      }
      if (step.dim > t.shape.size()) {
        return RemapState::step_error(step, t.name, "has no dimension " + std::to_string(step.dim) + " to insert before");
      }
      t.shape.insert(t.shape.begin() + static_cast<std::ptrdiff_t>(step.dim), 1);
    }
    return {};
  case Step::Kind::permute:
    return run_permute(state, step);
  case Step::Kind::split:
    return run_split(state, step);
  case Step::Kind::concat:
    return run_concat(state, step);
  case Step::Kind::slice:
    for (auto& t : tensors) {
      if (!step.pattern->search(t.name)) {
        continue;
      }
      if (step.dim >= t.shape.size()) {
        return RemapState::step_error(step, t.name, "has no dimension " + std::to_string(step.dim));
      }
      const auto [first, last] = python_range(step.start, step.end, t.shape[step.dim]);
      auto sliced = take_range(state, step, t, step.dim, first, last);
      if (!sliced) {
        return sliced.error();
      }
      t = std::move(*sliced);
    }
    return {};
  case Step::Kind::resize_pos_embed:
    return run_resize_pos_embed(state, step);
  case Step::Kind::resize_rel_pos_table:
    return run_resize_rel_pos_table(state, step);
  case Step::Kind::zeros:
    return run_zeros(state, step);
  case Step::Kind::add:
    return run_add(state, step);
  case Step::Kind::map:
    return run_map(state, step);
  case Step::Kind::branch:
    return run_steps(state, holds(*step.when, state) ? step.then_steps : step.else_steps);
  }
  return {};
}

} // namespace

proto::Result<void> run_steps(RemapState& state, const std::vector<Step>& steps) {
  for (const auto& step : steps) {
    if (step.kind != Step::Kind::branch && step.when && !holds(*step.when, state)) {
      continue;
    }
    if (auto ran = run_step(state, step); !ran) {
      return ran;
    }
  }
  return {};
}

} // namespace timmd::remap

// The steps timm's load_pretrained runs for every model after its filter (REMAP.md section 6),
// and the client's selection, dtype and manifest check.
#include "daemon/remap/float_codec.hpp"
#include "daemon/remap/remap_state.hpp"

#include <algorithm>
#include <fnmatch.h>

namespace timmd::remap {
namespace {

using proto::Errc;

// The in_chans to adapt to: the request's, else what the manifest's first conv takes.
std::optional<std::uint64_t> target_in_chans(RemapState& state) {
  const auto& filter = state.input.filter;
  if (filter.in_chans) {
    return filter.in_chans;
  }
  const auto& convs = state.input.model.first_conv;
  if (!filter.manifest || convs.empty()) {
    return std::nullopt;
  }
  const auto* wanted = filter.manifest->find(convs.front() + ".weight");
  const auto* have = state.find(convs.front() + ".weight");
  if (wanted == nullptr || have == nullptr || wanted->shape.size() != 4 || have->shape.size() != 4 ||
      wanted->shape[1] == have->shape[1]) {
    return std::nullopt;
  }
  return wanted->shape[1];
}

// timm's adapt_input_conv in float32: greyscale sums the RGB kernels (per group of 3 for
// space-to-depth stems), other counts tile RGB and scale by 3/in_chans. nullopt when timm
// would raise NotImplementedError and drop the weight instead.
std::optional<std::pair<std::vector<float>, std::vector<std::uint64_t>>> adapt_kernel(const std::vector<float>& w,
                                                                                     const std::vector<std::uint64_t>& shape,
                                                                                     std::uint64_t in_chans) {
  const std::uint64_t out = shape[0];
  const std::uint64_t in = shape[1];
  const std::uint64_t spatial = shape[2] * shape[3];
  if (in_chans == 1) {
    if (in > 3 && in % 3 != 0) {
      return std::nullopt;
    }
    const std::uint64_t groups = in > 3 ? in / 3 : 1;
    const std::uint64_t per_group = in > 3 ? 3 : in;
    std::vector<float> result(out * groups * spatial);
    for (std::uint64_t o = 0; o < out; ++o) {
      for (std::uint64_t g = 0; g < groups; ++g) {
        for (std::uint64_t s = 0; s < spatial; ++s) {
          // Left to right in float32: (c0 + c1) + c2 is what torch's sum produced bit for bit.
          float sum = 0.0F;
          for (std::uint64_t c = 0; c < per_group; ++c) {
            sum += w[(o * in + g * per_group + c) * spatial + s];
          }
          result[(o * groups + g) * spatial + s] = sum;
        }
      }
    }
    return std::pair{std::move(result), std::vector<std::uint64_t>{out, groups, shape[2], shape[3]}};
  }
  if (in != 3) {
    return std::nullopt;
  }
  const auto scale = static_cast<float>(3.0 / static_cast<double>(in_chans));
  std::vector<float> result(out * in_chans * spatial);
  for (std::uint64_t o = 0; o < out; ++o) {
    for (std::uint64_t c = 0; c < in_chans; ++c) {
      for (std::uint64_t s = 0; s < spatial; ++s) {
        result[(o * in_chans + c) * spatial + s] = w[(o * 3 + c % 3) * spatial + s] * scale;
      }
    }
  }
  return std::pair{std::move(result), std::vector<std::uint64_t>{out, in_chans, shape[2], shape[3]}};
}

bool matches_any(const std::vector<std::string>& globs, const std::string& name) {
  return std::any_of(globs.begin(), globs.end(), [&](const std::string& g) { return fnmatch(g.c_str(), name.c_str(), 0) == 0; });
}

} // namespace

proto::Result<void> adapt_first_conv(RemapState& state) {
  const auto in_chans = target_in_chans(state);
  if (!in_chans || *in_chans == 3) {
    return {};
  }
  for (const auto& conv : state.input.model.first_conv) {
    const auto key = conv + ".weight";
    auto* weight = state.find(key);
    if (weight == nullptr) {
      return proto::make_error(Errc::invalid_checkpoint,
                               "pretrained_cfg names the first conv '" + conv + "', but the state dict has no '" + key +
                                   "'; in_chans cannot be adapted (timm fails the same way)",
                               {{"tensor", key}});
    }
    std::optional<std::pair<std::vector<float>, std::vector<std::uint64_t>>> adapted;
    if (weight->shape.size() == 4 && is_floating(weight->dtype)) {
      auto values = state.floats(*weight);
      if (!values) {
        return values.error();
      }
      adapted = adapt_kernel(*values, weight->shape, *in_chans);
    }
    if (!adapted) {
      state.result.notes.push_back("dropped " + key + " " + format_shape(weight->shape) + ": it cannot be adapted to " +
                                   std::to_string(*in_chans) + " input channels, so the model keeps its initial values");
      state.result.strict = false;
      std::erase_if(state.tensors(), [&](auto& t) { return t.name == key; });
      continue;
    }
    auto encoded = encode_floats(weight->dtype, adapted->first, key);
    if (!encoded) {
      return encoded.error();
    }
    state.result.notes.push_back("adapted " + key + " from " + format_shape(weight->shape) + " to " +
                                 format_shape(adapted->second) + " for in_chans " + std::to_string(*in_chans));
    *weight = make_computed(key, weight->dtype, adapted->second, std::move(*encoded));
  }
  return {};
}

proto::Result<void> adapt_classifier(RemapState& state) {
  const auto& model = state.input.model;
  const auto& filter = state.input.filter;
  if (model.classifier.empty()) {
    return {};
  }
  std::optional<std::int64_t> wanted = filter.num_classes;
  if (!wanted && filter.manifest) {
    const auto* head = filter.manifest->find(model.classifier.front() + ".weight");
    wanted = head != nullptr && !head->shape.empty() ? static_cast<std::int64_t>(head->shape[0]) : 0;
  }
  const std::int64_t pretrained = model.num_classes.value_or(1000);
  if (wanted && *wanted != pretrained) {
    const std::string source = filter.num_classes ? " classes requested, " : " classes in the manifest, ";
    for (const auto& name : model.classifier) {
      const auto removed = std::erase_if(state.tensors(), [&](auto& t) { return t.name == name + ".weight" || t.name == name + ".bias"; });
      if (removed > 0) {
        state.result.notes.push_back("dropped classifier " + name + " (" + std::to_string(*wanted) + source +
                                     std::to_string(pretrained) + " pretrained)");
      }
    }
    state.result.strict = false;
    return {};
  }
  if (model.label_offset > 0) {
    for (const auto& name : model.classifier) {
      for (const auto* suffix : {".weight", ".bias"}) {
        auto* tensor = state.find(name + suffix);
        if (tensor == nullptr || tensor->shape.empty() ||
            tensor->shape[0] < static_cast<std::uint64_t>(model.label_offset)) {
          continue;
        }
        const auto offset = static_cast<std::uint64_t>(model.label_offset);
        const std::uint64_t row = tensor->byte_length / tensor->shape[0];
        if (tensor->is_computed()) {
          tensors::AlignedBuffer rows((tensor->shape[0] - offset) * row, 64);
          std::copy_n(tensor->computed->bytes().data() + offset * row, rows.bytes().size(), rows.bytes().data());
          auto shape = tensor->shape;
          shape[0] -= offset;
          *tensor = make_computed(tensor->name, tensor->dtype, shape, std::move(rows));
        } else {
          tensor->shape[0] -= offset;
          tensor->source_byte_offset += offset * row;
          tensor->byte_length -= offset * row;
        }
      }
    }
    state.result.notes.push_back("removed the first " + std::to_string(model.label_offset) +
                                 " classifier rows (label_offset)");
  }
  return {};
}

proto::Result<void> apply_selection_and_dtype(RemapState& state) {
  const auto& filter = state.input.filter;
  const auto removed = std::erase_if(state.tensors(), [&](const TensorValue& t) {
    return (!filter.include.empty() && !matches_any(filter.include, t.name)) || matches_any(filter.exclude, t.name);
  });
  if (removed > 0) {
    // The model still has the tensors left out, so load_state_dict must not be strict.
    state.result.strict = false;
    state.result.notes.push_back("left out " + std::to_string(removed) + " tensors by include/exclude");
  }
  if (!filter.dtype) {
    return {};
  }
  std::size_t cast = 0;
  for (auto& tensor : state.tensors()) {
    if (!is_floating(tensor.dtype) || tensor.dtype == *filter.dtype) {
      continue;
    }
    auto data = state.bytes(tensor);
    if (!data) {
      return data.error();
    }
    auto converted = cast_floats(tensor.dtype, *filter.dtype, (*data)->bytes(), tensor.name);
    if (!converted) {
      return converted.error();
    }
    tensor = make_computed(tensor.name, *filter.dtype, tensor.shape, std::move(*converted));
    ++cast;
  }
  if (cast > 0) {
    state.result.notes.push_back("cast " + std::to_string(cast) + " floating tensors to " +
                                 std::string(tensors::safetensors_name(*filter.dtype)));
  }
  return {};
}

proto::Result<void> order_and_check_manifest(RemapState& state) {
  const auto& filter = state.input.filter;
  if (state.tensors().empty()) {
    std::string globs;
    for (const auto& glob : filter.include) {
      globs += (globs.empty() ? "" : ", ") + std::string("include ") + glob;
    }
    for (const auto& glob : filter.exclude) {
      globs += (globs.empty() ? "" : ", ") + std::string("exclude ") + glob;
    }
    return proto::make_error(Errc::invalid_request,
                             "the filter leaves no tensors (" + globs + "); tensor names look like 'blocks.0.attn.qkv.weight'");
  }
  if (!filter.manifest) {
    return {};
  }
  const auto& manifest = *filter.manifest;
  auto& tensors = state.tensors();
  std::vector<TensorValue> ordered;
  nlohmann::json mismatched = nlohmann::json::array();
  std::string listed;
  for (const auto& entry : manifest.tensors) {
    auto found = std::find_if(tensors.begin(), tensors.end(), [&](auto& t) { return t.name == entry.name; });
    if (found == tensors.end()) {
      state.result.missing_keys.push_back(entry.name);
      continue;
    }
    if (found->shape != entry.shape) {
      mismatched.push_back({{"name", entry.name}, {"shape", found->shape}, {"expected", entry.shape}});
      if (mismatched.size() <= 10) {
        listed += (listed.empty() ? "" : ", ") + entry.name + " " + format_shape(found->shape) + " vs " +
                  format_shape(entry.shape);
      }
    }
    ordered.push_back(std::move(*found));
    tensors.erase(found);
  }
  if (!mismatched.empty()) {
    // Counted first: the details argument below moves the list.
    const auto count = mismatched.size();
    return proto::make_error(Errc::invalid_request,
                             std::to_string(count) + " tensors do not have the manifest's shape (" + listed +
                                 (count > 10 ? ", ..." : "") +
                                 "); pass the options the model was built with (img_size, in_chans, num_classes) "
                                 "or check that the manifest belongs to this model",
                             {{"mismatched", std::move(mismatched)}});
  }
  for (auto& rest : tensors) {
    state.result.unexpected_keys.push_back(rest.name);
    ordered.push_back(std::move(rest));
  }
  tensors = std::move(ordered);
  if (!state.result.missing_keys.empty()) {
    state.result.strict = false;
  }
  return {};
}

} // namespace timmd::remap

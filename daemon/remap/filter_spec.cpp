#include "daemon/remap/filter_spec.hpp"

#include <set>

namespace timmd::remap {
namespace {

using nlohmann::json;
using proto::Errc;

// Bounds on what a client may send: a manifest is one entry per model tensor.
constexpr std::size_t k_max_manifest_tensors = 1U << 20U;
constexpr std::size_t k_max_globs = 256;
constexpr std::uint64_t k_max_extent = 1U << 20U;

proto::Error field_error(const std::string& field, const std::string& what) {
  return proto::make_error(Errc::invalid_request, "filter field '" + field + "' " + what, {{"field", field}});
}

// JSON parsed from text gives non-negative integers as unsigned; built in code, as signed.
bool is_count(const json& value) {
  return value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0);
}

proto::Result<std::uint64_t> positive(const json& value, const std::string& field, std::uint64_t max) {
  if (!is_count(value) || value.get<std::uint64_t>() == 0 || value.get<std::uint64_t>() > max) {
    return field_error(field, "must be an integer from 1 to " + std::to_string(max) + ", not " + value.dump());
  }
  return value.get<std::uint64_t>();
}

// Accepts N (square) or [H, W].
proto::Result<Size2> size2(const json& value, const std::string& field) {
  if (value.is_number()) {
    auto side = positive(value, field, k_max_extent);
    if (!side) {
      return side.error();
    }
    return Size2{*side, *side};
  }
  if (!value.is_array() || value.size() != 2) {
    return field_error(field, "must be N or [H, W], not " + value.dump());
  }
  auto h = positive(value[0], field, k_max_extent);
  auto w = positive(value[1], field, k_max_extent);
  if (!h || !w) {
    return !h ? h.error() : w.error();
  }
  return Size2{*h, *w};
}

proto::Result<std::vector<std::string>> globs(const json& value, const std::string& field) {
  std::vector<std::string> out;
  const json list = value.is_string() ? json::array({value}) : value;
  if (!list.is_array() || list.size() > k_max_globs) {
    return field_error(field, "must be a glob or a list of at most " + std::to_string(k_max_globs) + " globs");
  }
  for (const auto& glob : list) {
    if (!glob.is_string() || glob.get<std::string>().empty()) {
      return field_error(field, "holds " + glob.dump() + "; each entry must be a non-empty glob string");
    }
    out.push_back(glob.get<std::string>());
  }
  return out;
}

json size_json(const std::optional<Size2>& size) {
  return size ? json::array({(*size)[0], (*size)[1]}) : json(nullptr);
}

} // namespace

std::optional<tensors::Dtype> parse_float_dtype(std::string_view name) {
  if (name == "f32" || name == "float32" || name == "F32") {
    return tensors::Dtype::f32;
  }
  if (name == "f16" || name == "float16" || name == "F16") {
    return tensors::Dtype::f16;
  }
  if (name == "bf16" || name == "bfloat16" || name == "BF16") {
    return tensors::Dtype::bf16;
  }
  return std::nullopt;
}

const ManifestEntry* Manifest::find(const std::string& name) const {
  const auto found = m_by_name.find(name);
  return found == m_by_name.end() ? nullptr : &tensors[found->second];
}

proto::Result<Manifest> Manifest::from_json(const json& json) {
  Manifest manifest;
  if (!json.is_object() || !json.contains("tensors") || !json["tensors"].is_array()) {
    return field_error("manifest", "must be an object with a 'tensors' list of {name, shape, dtype}");
  }
  const auto& list = json["tensors"];
  if (list.size() > k_max_manifest_tensors) {
    return field_error("manifest", "lists " + std::to_string(list.size()) + " tensors; the limit is " +
                                       std::to_string(k_max_manifest_tensors));
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& item = list[i];
    const auto where = "manifest.tensors[" + std::to_string(i) + "]";
    if (!item.is_object() || !item.contains("name") || !item["name"].is_string() || !item.contains("shape") ||
        !item["shape"].is_array()) {
      return field_error(where, "must be an object with a string 'name' and a 'shape' list");
    }
    ManifestEntry entry;
    entry.name = item["name"].get<std::string>();
    for (const auto& extent : item["shape"]) {
      if (!is_count(extent)) {
        return field_error(where, "('" + entry.name + "') has a shape entry " + extent.dump() +
                                      "; extents are non-negative integers");
      }
      entry.shape.push_back(extent.get<std::uint64_t>());
    }
    if (item.contains("dtype") && !item["dtype"].is_null()) {
      const auto name = item["dtype"].is_string() ? item["dtype"].get<std::string>() : std::string();
      auto dtype = tensors::dtype_from_torch(name.starts_with("torch.") ? name.substr(6) : name);
      if (!dtype) {
        dtype = tensors::dtype_from_safetensors(name);
      }
      if (!dtype) {
        return field_error(where, "('" + entry.name + "') has dtype " + item["dtype"].dump() +
                                      "; use a torch name such as \"float32\" or a safetensors name such as \"F32\"");
      }
      entry.dtype = dtype;
    }
    if (!manifest.m_by_name.emplace(entry.name, manifest.tensors.size()).second) {
      return field_error(where, "repeats the name '" + entry.name + "'");
    }
    manifest.tensors.push_back(std::move(entry));
  }
  if (json.contains("num_prefix_tokens") && !json["num_prefix_tokens"].is_null()) {
    if (!is_count(json["num_prefix_tokens"]) || json["num_prefix_tokens"].get<std::uint64_t>() > 1024) {
      return field_error("manifest.num_prefix_tokens", "must be an integer from 0 to 1024");
    }
    manifest.num_prefix_tokens = json["num_prefix_tokens"].get<std::uint64_t>();
  }
  for (const auto* field : {"grid_size", "window_size"}) {
    if (json.contains(field) && !json[field].is_null()) {
      auto size = size2(json[field], std::string("manifest.") + field);
      if (!size) {
        return size.error();
      }
      (std::string(field) == "grid_size" ? manifest.grid_size : manifest.window_size) = *size;
    }
  }
  return manifest;
}

nlohmann::json Manifest::to_json() const {
  json list = json::array();
  for (const auto& entry : tensors) {
    list.push_back({{"name", entry.name},
                    {"shape", entry.shape},
                    {"dtype", entry.dtype ? json(tensors::safetensors_name(*entry.dtype)) : json(nullptr)}});
  }
  return {{"tensors", std::move(list)},
          {"num_prefix_tokens", num_prefix_tokens ? json(*num_prefix_tokens) : json(nullptr)},
          {"grid_size", size_json(grid_size)},
          {"window_size", size_json(window_size)}};
}

proto::Result<FilterSpec> FilterSpec::from_json(const json& json) {
  FilterSpec spec;
  if (json.is_null()) {
    return spec;
  }
  if (!json.is_object()) {
    return field_error("filter", "must be an object, not " + json.dump());
  }
  static const std::set<std::string> known = {"num_classes", "in_chans", "img_size", "window_size",
                                              "dtype",       "include",  "exclude",  "manifest"};
  for (const auto& [key, value] : json.items()) {
    if (!known.contains(key)) {
      return field_error(key, "is not a filter option; the options are num_classes, in_chans, img_size, "
                              "window_size, dtype, include, exclude and manifest");
    }
    if (value.is_null()) {
      continue;
    }
    if (key == "num_classes") {
      if (!value.is_number_integer() || value.get<std::int64_t>() < 0 || value.get<std::int64_t>() > 10'000'000) {
        return field_error(key, "must be an integer from 0 (no classifier) to 10000000, not " + value.dump());
      }
      spec.num_classes = value.get<std::int64_t>();
    } else if (key == "in_chans") {
      auto chans = positive(value, key, 4096);
      if (!chans) {
        return chans.error();
      }
      spec.in_chans = *chans;
    } else if (key == "img_size" || key == "window_size") {
      auto size = size2(value, key);
      if (!size) {
        return size.error();
      }
      (key == "img_size" ? spec.img_size : spec.window_size) = *size;
    } else if (key == "dtype") {
      auto dtype = value.is_string() ? parse_float_dtype(value.get<std::string>()) : std::nullopt;
      if (!dtype) {
        return field_error(key, "must be \"f32\", \"f16\" or \"bf16\" (or float32, float16, bfloat16), not " +
                                    value.dump());
      }
      spec.dtype = dtype;
    } else if (key == "include" || key == "exclude") {
      auto list = globs(value, key);
      if (!list) {
        return list.error();
      }
      (key == "include" ? spec.include : spec.exclude) = std::move(*list);
    } else {
      auto manifest = Manifest::from_json(value);
      if (!manifest) {
        return manifest.error();
      }
      spec.manifest = std::move(*manifest);
    }
  }
  return spec;
}

nlohmann::json FilterSpec::canonical() const {
  return {{"num_classes", num_classes ? json(*num_classes) : json(nullptr)},
          {"in_chans", in_chans ? json(*in_chans) : json(nullptr)},
          {"img_size", size_json(img_size)},
          {"window_size", size_json(window_size)},
          {"dtype", dtype ? json(tensors::safetensors_name(*dtype)) : json(nullptr)},
          {"include", include},
          {"exclude", exclude},
          {"manifest", manifest ? manifest->to_json() : json(nullptr)}};
}

} // namespace timmd::remap

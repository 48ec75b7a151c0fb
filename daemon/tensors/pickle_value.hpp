// Values produced by the restricted unpickler: plain data, plus the few PyTorch and numpy
// objects a state dict needs, all held in one arena and referring to each other by index.
#pragma once

#include "daemon/tensors/dtype.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace timmd::tensors {

// Index of a value in PickleGraph::values. Indices instead of pointers let the memo share
// values and let a hostile pickle build cycles without leaking or recursing forever.
using ValueId = std::uint32_t;
inline constexpr ValueId k_no_value = UINT32_MAX;

enum class PickleKind : std::uint8_t {
  none,
  boolean,
  integer,      // fits in int64: `integer`
  big_integer,  // LONG1/LONG4 wider than 64 bits: little-endian two's complement in `text`
  floating,
  string,       // UTF-8 in `text`
  bytes,        // raw bytes in `text`
  tuple,
  list,
  dict,         // also collections.OrderedDict: `items` alternates key and value
  set,
  global,       // an allow-listed module attribute, "module.name" in `text`
  storage,      // a storage named by a persistent id: PickleGraph::storages[integer]
  tensor,       // PickleGraph::tensors[integer]
  object,       // numpy scalar or dtype, argparse.Namespace: class in `text`, state in `state`
};

// A storage named by a persistent id ('storage', class, key, location, numel[, view]).
struct StorageRef {
  Dtype dtype = Dtype::u8;
  std::string key;
  std::uint64_t numel = 0;
  // Legacy views: (view_key, offset, size) of a sub-storage of the root storage `key`.
  std::optional<std::string> view_key;
  std::uint64_t view_offset = 0;
  std::uint64_t view_numel = 0;
};

// A tensor from torch._utils._rebuild_tensor{,_v2} or _rebuild_parameter.
struct TensorRef {
  ValueId storage = k_no_value;
  std::uint64_t storage_offset = 0;  // in elements
  std::vector<std::uint64_t> shape;
  std::vector<std::uint64_t> strides;
  bool requires_grad = false;
  bool parameter = false;
};

struct PickleValue {
  PickleKind kind = PickleKind::none;
  bool boolean = false;
  // Containers nested inside this one, counting itself; bounded by ReadLimits::max_nesting.
  std::uint32_t depth = 1;
  std::int64_t integer = 0;
  double floating = 0;
  std::string text;
  std::vector<ValueId> items;
  ValueId state = k_no_value;
};

struct PickleGraph {
  std::vector<PickleValue> values;
  std::vector<StorageRef> storages;
  std::vector<TensorRef> tensors;
  ValueId root = k_no_value;

  const PickleValue& at(ValueId id) const { return values.at(id); }
  const StorageRef& storage_of(const PickleValue& value) const {
    return storages.at(static_cast<std::size_t>(value.integer));
  }
  const TensorRef& tensor_of(const PickleValue& value) const {
    return tensors.at(static_cast<std::size_t>(value.integer));
  }
  ValueId add(PickleValue value) {
    values.push_back(std::move(value));
    return static_cast<ValueId>(values.size() - 1);
  }
};

// Name of a kind for messages, e.g. "tuple".
std::string_view to_string(PickleKind kind);

// Spells a dict key: strings as they are, ints in decimal, True, False and None as Python
// prints them, anything else as "<kind>". Never recursive, so hostile keys cannot grow names.
std::string key_text(const PickleGraph& graph, ValueId id);

// Converts plain data (None, bools, numbers, strings, containers, numpy scalars) to JSON.
// Tensors, storages and unconvertible values become a short string description. Depth is
// bounded by `max_depth` and the total by 100,000 values, so cycles and shared subtrees end.
nlohmann::json to_json(const PickleGraph& graph, ValueId id, std::uint32_t max_depth = 32);

} // namespace timmd::tensors

#include "daemon/tensors/pickle_value.hpp"

#include <cstring>

namespace timmd::tensors {

std::string_view to_string(PickleKind kind) {
  switch (kind) {
  case PickleKind::none: return "None";
  case PickleKind::boolean: return "bool";
  case PickleKind::integer: return "int";
  case PickleKind::big_integer: return "int (wider than 64 bits)";
  case PickleKind::floating: return "float";
  case PickleKind::string: return "str";
  case PickleKind::bytes: return "bytes";
  case PickleKind::tuple: return "tuple";
  case PickleKind::list: return "list";
  case PickleKind::dict: return "dict";
  case PickleKind::set: return "set";
  case PickleKind::global: return "global";
  case PickleKind::storage: return "storage";
  case PickleKind::tensor: return "tensor";
  case PickleKind::object: return "object";
  }
  return "unknown";
}

namespace {

// Converts numpy.core.multiarray.scalar(dtype, bytes) of the dtypes training scripts store
// (f8, f4 and i8 metrics and epochs). Other dtypes become the string "numpy scalar".
nlohmann::json numpy_scalar_json(const PickleGraph& graph, const PickleValue& value) {
  if (value.items.size() != 2) {
    return "numpy scalar";
  }
  const auto& dtype = graph.at(value.items[0]);
  const auto& data = graph.at(value.items[1]);
  if (dtype.kind != PickleKind::object || dtype.items.empty() || data.kind != PickleKind::bytes) {
    return "numpy scalar";
  }
  const auto& descr = graph.at(dtype.items[0]);
  const auto& bytes = data.text;
  if (descr.kind == PickleKind::string && descr.text == "f8" && bytes.size() == 8) {
    double d = 0;
    std::memcpy(&d, bytes.data(), 8);
    return d;
  }
  if (descr.kind == PickleKind::string && descr.text == "f4" && bytes.size() == 4) {
    float f = 0;
    std::memcpy(&f, bytes.data(), 4);
    return f;
  }
  if (descr.kind == PickleKind::string && descr.text == "i8" && bytes.size() == 8) {
    std::int64_t i = 0;
    std::memcpy(&i, bytes.data(), 8);
    return i;
  }
  return "numpy scalar";
}

// `budget` bounds the values visited in total: memo references can make a small pickle a DAG
// whose tree expansion is exponential.
nlohmann::json convert(const PickleGraph& graph, ValueId id, std::uint32_t depth,
                       std::uint64_t& budget) {
  if (depth == 0 || budget == 0) {
    return "...";
  }
  --budget;
  const auto& value = graph.at(id);
  switch (value.kind) {
  case PickleKind::none: return nullptr;
  case PickleKind::boolean: return value.boolean;
  case PickleKind::integer: return value.integer;
  case PickleKind::big_integer: return "int of " + std::to_string(value.text.size()) + " bytes";
  case PickleKind::floating: return value.floating;
  case PickleKind::string: return value.text;
  case PickleKind::bytes: return "bytes of length " + std::to_string(value.text.size());
  case PickleKind::global: return value.text;
  case PickleKind::storage: return "storage " + graph.storage_of(value).key;
  case PickleKind::tensor: return "tensor";
  case PickleKind::tuple:
  case PickleKind::list:
  case PickleKind::set: {
    auto array = nlohmann::json::array();
    for (const auto item : value.items) {
      array.push_back(convert(graph, item, depth - 1, budget));
    }
    return array;
  }
  case PickleKind::dict: {
    auto object = nlohmann::json::object();
    for (std::size_t i = 0; i + 1 < value.items.size(); i += 2) {
      object[key_text(graph, value.items[i])] = convert(graph, value.items[i + 1], depth - 1, budget);
    }
    return object;
  }
  case PickleKind::object:
    if (value.text == "numpy.core.multiarray.scalar" || value.text == "numpy._core.multiarray.scalar") {
      return numpy_scalar_json(graph, value);
    }
    if (value.state != k_no_value) {
      return convert(graph, value.state, depth - 1, budget);
    }
    return value.text;
  }
  return nullptr;
}

} // namespace

std::string key_text(const PickleGraph& graph, ValueId id) {
  const auto& key = graph.at(id);
  switch (key.kind) {
  case PickleKind::string: return key.text;
  case PickleKind::integer: return std::to_string(key.integer);
  case PickleKind::boolean: return key.boolean ? "True" : "False";
  case PickleKind::none: return "None";
  default: return "<" + std::string(to_string(key.kind)) + ">";
  }
}

nlohmann::json to_json(const PickleGraph& graph, ValueId id, std::uint32_t max_depth) {
  std::uint64_t budget = 100'000;
  return convert(graph, id, max_depth, budget);
}

} // namespace timmd::tensors

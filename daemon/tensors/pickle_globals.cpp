#include "daemon/tensors/pickle_globals.hpp"

#include <algorithm>
#include <array>

namespace timmd::tensors {
namespace {

constexpr std::array<std::string_view, 17> k_allowed{
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
  "torch._utils._rebuild_parameter_with_state",
  "torch.Size",
  "builtins.set",
  "builtins.frozenset",
  "__builtin__.set",
  "__builtin__.frozenset",
  "numpy.core.multiarray.scalar",
  "numpy._core.multiarray.scalar",
  "numpy.dtype",
  "argparse.Namespace",
  "_codecs.encode",
  "torch.UntypedStorage",
  "torch.storage.UntypedStorage",
};

bool is_storage_class(std::string_view module, std::string_view name) {
  if (module == "torch.storage" && name == "UntypedStorage") {
    return true;
  }
  return module == "torch" && (name == "UntypedStorage" || dtype_from_torch_storage(name));
}

std::string qualified(const PickleValue& global) {
  return global.kind == PickleKind::global ? global.text : std::string(to_string(global.kind));
}

std::optional<std::uint64_t> as_uint(const PickleValue& value) {
  if (value.kind == PickleKind::integer && value.integer >= 0) {
    return static_cast<std::uint64_t>(value.integer);
  }
  return std::nullopt;
}

bool is_sequence(const PickleValue& value) {
  return value.kind == PickleKind::tuple || value.kind == PickleKind::list;
}

std::optional<std::vector<std::uint64_t>> as_uint_tuple(const PickleGraph& graph, ValueId id) {
  const auto& value = graph.at(id);
  if (!is_sequence(value)) {
    return std::nullopt;
  }
  std::vector<std::uint64_t> numbers;
  for (const auto item : value.items) {
    const auto number = as_uint(graph.at(item));
    if (!number) {
      return std::nullopt;
    }
    numbers.push_back(*number);
  }
  return numbers;
}

CallOutcome rebuild_tensor(PickleGraph& graph, const std::vector<ValueId>& args,
                           const std::string& callable, const ReadLimits& limits) {
  const bool v2 = callable != "torch._utils._rebuild_tensor";
  if (args.size() < 4 || (!v2 && args.size() != 4) || (v2 && args.size() != 6 && args.size() != 7)) {
    return callable + " called with " + std::to_string(args.size()) + " arguments";
  }
  if (graph.at(args[0]).kind != PickleKind::storage) {
    return callable + " argument 0 is a " + std::string(to_string(graph.at(args[0]).kind)) +
           ", expected a storage";
  }
  TensorRef tensor;
  tensor.storage = args[0];
  const auto offset = as_uint(graph.at(args[1]));
  auto shape = as_uint_tuple(graph, args[2]);
  auto strides = as_uint_tuple(graph, args[3]);
  if (!offset || !shape || !strides || shape->size() != strides->size()) {
    return callable + " needs a non-negative storage offset and size and stride tuples of equal "
                      "length";
  }
  if (shape->size() > limits.max_dimensions) {
    return callable + " builds a tensor of " + std::to_string(shape->size()) +
           " dimensions, more than the limit of " + std::to_string(limits.max_dimensions);
  }
  tensor.storage_offset = *offset;
  tensor.shape = std::move(*shape);
  tensor.strides = std::move(*strides);
  if (v2) {
    const auto& requires_grad = graph.at(args[4]);
    tensor.requires_grad = requires_grad.kind == PickleKind::boolean && requires_grad.boolean;
  }
  graph.tensors.push_back(std::move(tensor));
  PickleValue value;
  value.kind = PickleKind::tensor;
  value.integer = static_cast<std::int64_t>(graph.tensors.size() - 1);
  return graph.add(std::move(value));
}

CallOutcome rebuild_parameter(PickleGraph& graph, const std::vector<ValueId>& args,
                              const std::string& callable) {
  const bool with_state = callable == "torch._utils._rebuild_parameter_with_state";
  if (args.size() != (with_state ? 4U : 3U) || graph.at(args[0]).kind != PickleKind::tensor) {
    return callable + " needs (tensor, requires_grad, hooks" + (with_state ? ", state)" : ")");
  }
  auto& tensor = graph.tensors.at(static_cast<std::size_t>(graph.at(args[0]).integer));
  tensor.parameter = true;
  const auto& requires_grad = graph.at(args[1]);
  tensor.requires_grad = requires_grad.kind == PickleKind::boolean && requires_grad.boolean;
  return args[0];
}

CallOutcome make_container(PickleGraph& graph, const std::vector<ValueId>& args,
                           const std::string& callable) {
  PickleValue value;
  const bool is_dict = callable == "collections.OrderedDict";
  value.kind = is_dict ? PickleKind::dict
               : callable == "torch.Size" ? PickleKind::tuple
                                          : PickleKind::set;
  if (args.size() > 1) {
    return callable + " called with " + std::to_string(args.size()) + " arguments";
  }
  if (!args.empty()) {
    const auto& source = graph.at(args[0]);
    if (!is_sequence(source) && source.kind != PickleKind::set) {
      return callable + " argument is a " + std::string(to_string(source.kind)) +
             ", expected a list or tuple";
    }
    for (const auto item : source.items) {
      if (!is_dict) {
        value.items.push_back(item);
        continue;
      }
      const auto& pair = graph.at(item);
      if (!is_sequence(pair) || pair.items.size() != 2) {
        return callable + " argument holds a " + std::string(to_string(pair.kind)) +
               " where a (key, value) pair belongs";
      }
      value.items.push_back(pair.items[0]);
      value.items.push_back(pair.items[1]);
    }
    value.depth = source.depth + 1;
  }
  return graph.add(std::move(value));
}

CallOutcome make_numpy(PickleGraph& graph, const std::vector<ValueId>& args,
                       const std::string& callable) {
  const bool scalar = callable != "numpy.dtype";
  if (scalar && (args.size() != 2 || graph.at(args[1]).kind != PickleKind::bytes)) {
    return callable + " needs (dtype, bytes)";
  }
  if (!scalar && (args.empty() || graph.at(args[0]).kind != PickleKind::string)) {
    return callable + " needs a dtype string as its first argument";
  }
  PickleValue value;
  value.kind = PickleKind::object;
  value.text = callable;
  value.items = args;
  return graph.add(std::move(value));
}

CallOutcome encode_latin1(PickleGraph& graph, const std::vector<ValueId>& args) {
  if (args.size() != 2 || graph.at(args[0]).kind != PickleKind::string ||
      graph.at(args[1]).kind != PickleKind::string ||
      (graph.at(args[1]).text != "latin1" && graph.at(args[1]).text != "latin-1")) {
    return "_codecs.encode is allowed only as encode(str, \"latin1\")";
  }
  // The string is UTF-8; latin-1 maps code points U+0000..U+00FF to one byte each.
  const auto& text = graph.at(args[0]).text;
  std::string bytes;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      bytes.push_back(static_cast<char>(c));
    } else if ((c == 0xC2 || c == 0xC3) && i + 1 < text.size()) {
      bytes.push_back(static_cast<char>(((c & 0x03U) << 6U) |
                                        (static_cast<unsigned char>(text[++i]) & 0x3FU)));
    } else {
      return "_codecs.encode argument has characters outside latin-1";
    }
  }
  PickleValue value;
  value.kind = PickleKind::bytes;
  value.text = std::move(bytes);
  return graph.add(std::move(value));
}

} // namespace

std::span<const std::string_view> allowed_globals() {
  return k_allowed;
}

bool is_allowed_global(std::string_view module, std::string_view name) {
  if (is_storage_class(module, name) || (module == "torch" && dtype_from_torch(name))) {
    return true;
  }
  const auto full = std::string(module) + "." + std::string(name);
  return std::find(k_allowed.begin(), k_allowed.end(), full) != k_allowed.end();
}

CallOutcome apply_reduce(PickleGraph& graph, ValueId callable_id, ValueId args_id,
                         const ReadLimits& limits) {
  const auto callable = qualified(graph.at(callable_id));
  const auto& args_value = graph.at(args_id);
  if (args_value.kind != PickleKind::tuple) {
    return "REDUCE arguments for " + callable + " are a " +
           std::string(to_string(args_value.kind)) + ", expected a tuple";
  }
  const auto args = args_value.items;

  if (callable.starts_with("torch._utils._rebuild_tensor")) {
    return rebuild_tensor(graph, args, callable, limits);
  }
  if (callable.starts_with("torch._utils._rebuild_parameter")) {
    return rebuild_parameter(graph, args, callable);
  }
  if (callable == "collections.OrderedDict" || callable == "torch.Size" ||
      callable.ends_with(".set") || callable.ends_with(".frozenset")) {
    return make_container(graph, args, callable);
  }
  if (callable.starts_with("numpy.")) {
    return make_numpy(graph, args, callable);
  }
  if (callable == "_codecs.encode") {
    return encode_latin1(graph, args);
  }
  return "calling " + callable + " is not allowed";
}

CallOutcome apply_newobj(PickleGraph& graph, ValueId cls, ValueId args) {
  const auto name = qualified(graph.at(cls));
  if (graph.at(args).kind != PickleKind::tuple || !graph.at(args).items.empty()) {
    return "NEWOBJ for " + name + " is allowed only without arguments";
  }
  PickleValue value;
  if (name == "argparse.Namespace") {
    value.kind = PickleKind::object;
    value.text = name;
  } else if (name == "collections.OrderedDict") {
    value.kind = PickleKind::dict;
  } else {
    return "NEWOBJ on " + name + " is not allowed";
  }
  return graph.add(std::move(value));
}

CallOutcome apply_build(PickleGraph& graph, ValueId target, ValueId state) {
  auto& value = graph.values.at(target);
  const bool allowed = value.kind == PickleKind::dict ||
                       (value.kind == PickleKind::object &&
                        (value.text == "numpy.dtype" || value.text == "argparse.Namespace"));
  if (!allowed) {
    return "BUILD on a " + std::string(to_string(value.kind)) +
           (value.kind == PickleKind::object ? " of class " + value.text : std::string()) +
           " is not allowed";
  }
  value.state = state;
  return target;
}

CallOutcome load_persistent(PickleGraph& graph, ValueId pid) {
  const auto& tuple = graph.at(pid);
  if (tuple.kind != PickleKind::tuple || tuple.items.empty() ||
      graph.at(tuple.items[0]).kind != PickleKind::string ||
      graph.at(tuple.items[0]).text != "storage") {
    return "persistent id is not a storage reference (only ('storage', ...) ids are read)";
  }
  if (tuple.items.size() != 5 && tuple.items.size() != 6) {
    return "storage persistent id has " + std::to_string(tuple.items.size()) +
           " fields, expected 5 or 6";
  }
  const auto& type = graph.at(tuple.items[1]);
  const auto& key = graph.at(tuple.items[2]);
  const auto numel = as_uint(graph.at(tuple.items[4]));
  if (type.kind != PickleKind::global || !numel ||
      (key.kind != PickleKind::string && key.kind != PickleKind::integer)) {
    return "storage persistent id needs (type, key, location, size) fields";
  }

  StorageRef storage;
  const auto dot = type.text.rfind('.');
  const auto class_name = std::string_view(type.text).substr(dot + 1);
  if (class_name == "UntypedStorage") {
    storage.dtype = Dtype::u8;
  } else if (const auto dtype = dtype_from_torch_storage(class_name)) {
    storage.dtype = *dtype;
  } else {
    return "storage type " + type.text + " is not a typed storage timmd reads";
  }
  storage.key = key.kind == PickleKind::string ? key.text : std::to_string(key.integer);
  storage.numel = *numel;

  if (tuple.items.size() == 6 && graph.at(tuple.items[5]).kind != PickleKind::none) {
    const auto& view = graph.at(tuple.items[5]);
    if (view.kind != PickleKind::tuple || view.items.size() != 3 ||
        graph.at(view.items[0]).kind != PickleKind::string || !as_uint(graph.at(view.items[1])) ||
        !as_uint(graph.at(view.items[2]))) {
      return "storage view metadata must be (key, offset, size)";
    }
    storage.view_key = graph.at(view.items[0]).text;
    storage.view_offset = *as_uint(graph.at(view.items[1]));
    storage.view_numel = *as_uint(graph.at(view.items[2]));
  }
  graph.storages.push_back(std::move(storage));
  PickleValue value;
  value.kind = PickleKind::storage;
  value.integer = static_cast<std::int64_t>(graph.storages.size() - 1);
  return graph.add(std::move(value));
}

} // namespace timmd::tensors

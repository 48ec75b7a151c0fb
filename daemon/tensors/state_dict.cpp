#include "daemon/tensors/state_dict.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <unordered_map>

namespace timmd::tensors {
namespace {

constexpr std::array<std::string_view, 5> k_state_dict_keys{
  "state_dict", "model_state_dict", "model", "state_dict_ema", "model_ema"};
constexpr std::array<std::string_view, 2> k_wrapper_prefixes{"module.", "_orig_mod."};

// Key-value pairs of a dict with repeated keys merged the way Python merges them.
std::vector<std::pair<std::string, ValueId>> dict_items(const PickleGraph& graph, const PickleValue& dict) {
  std::vector<std::pair<std::string, ValueId>> items;
  std::unordered_map<std::string, std::size_t> position;
  for (std::size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    auto key = key_text(graph, dict.items[i]);
    const auto found = position.find(key);
    if (found != position.end()) {
      items[found->second].second = dict.items[i + 1];
      continue;
    }
    position.emplace(key, items.size());
    items.emplace_back(std::move(key), dict.items[i + 1]);
  }
  return items;
}

bool holds_tensor_directly(const PickleGraph& graph, const PickleValue& dict) {
  for (std::size_t i = 1; i < dict.items.size(); i += 2) {
    if (graph.at(dict.items[i]).kind == PickleKind::tensor) {
      return true;
    }
  }
  return false;
}

class Collector {
public:
  Collector(const PickleGraph& graph, const StorageResolver& resolve, const std::string& source,
            const ReadLimits& limits, Checkpoint& checkpoint)
    : m_graph(graph), m_resolve(resolve), m_source(source), m_limits(limits),
      m_checkpoint(checkpoint) {}

  proto::Result<void> flatten(ValueId id, const std::string& prefix, std::uint32_t depth) {
    const auto& value = m_graph.at(id);
    if (value.kind == PickleKind::tensor) {
      return add_tensor(prefix, m_graph.tensor_of(value));
    }
    if (value.kind != PickleKind::dict) {
      return {};
    }
    // Memo references can make the dict graph a DAG or a cycle; bounding the visits keeps the
    // walk linear in the pickle size.
    if (++m_visits > 2 * m_graph.values.size() + 16) {
      return invalid_checkpoint(m_source, "dicts are shared or cyclic beyond what a state dict "
                                          "needs (around \"" + prefix + "\")");
    }
    if (depth > m_limits.max_nesting) {
      return invalid_checkpoint(m_source, "dicts nested deeper than " +
                                              std::to_string(m_limits.max_nesting) +
                                              " levels around \"" + prefix + "\"");
    }
    for (const auto& [key, child] : dict_items(m_graph, value)) {
      auto flattened = flatten(child, prefix.empty() ? key : prefix + "." + key, depth + 1);
      if (!flattened) {
        return flattened;
      }
    }
    return {};
  }

private:
  proto::Result<void> add_tensor(const std::string& name, const TensorRef& ref);

  const PickleGraph& m_graph;
  const StorageResolver& m_resolve;
  const std::string& m_source;
  const ReadLimits& m_limits;
  Checkpoint& m_checkpoint;
  std::unordered_map<std::string, std::size_t> m_names;
  std::uint64_t m_visits = 0;
};

proto::Result<void> Collector::add_tensor(const std::string& name, const TensorRef& ref) {
  const auto where = "tensor \"" + name + "\"";
  if (m_names.contains(name)) {
    return invalid_checkpoint(m_source, where + " appears twice after flattening nested dicts");
  }
  if (m_checkpoint.tensors.size() >= m_limits.max_tensors) {
    return invalid_checkpoint(m_source, "more than " + std::to_string(m_limits.max_tensors) +
                                            " tensors (ReadLimits::max_tensors)");
  }
  const auto& storage = m_graph.storage_of(m_graph.at(ref.storage));
  auto range = m_resolve(storage);
  if (!range) {
    return range.error();
  }

  TensorInfo info;
  info.name = name;
  info.dtype = storage.dtype;
  info.shape = ref.shape;
  info.strides = ref.strides;
  info.storage = range->key;
  info.requires_grad = ref.requires_grad || ref.parameter;
  const std::uint64_t element_size = bit_width(storage.dtype) / 8;

  // Highest element index the view touches, relative to the storage start.
  std::uint64_t last = ref.storage_offset;
  bool empty = false;
  bool overflow = false;
  for (std::size_t i = 0; i < ref.shape.size(); ++i) {
    empty = empty || ref.shape[i] == 0;
    std::uint64_t reach = 0;
    overflow = overflow || (ref.shape[i] > 0 &&
                            (__builtin_mul_overflow(ref.shape[i] - 1, ref.strides[i], &reach) ||
                             __builtin_add_overflow(last, reach, &last)));
  }
  std::uint64_t end_byte = 0;
  std::uint64_t begin_byte = 0;
  overflow = overflow || __builtin_mul_overflow(ref.storage_offset, element_size, &begin_byte) ||
             __builtin_mul_overflow(last + 1, element_size, &end_byte) || !element_count(ref.shape);
  if (overflow) {
    return invalid_checkpoint(m_source, where + ": shape and strides overflow 64 bits");
  }
  if (empty) {
    end_byte = begin_byte;
  }
  if (end_byte > range->length || begin_byte > range->length) {
    return invalid_checkpoint(m_source, where + " reaches byte " + std::to_string(end_byte) +
                                            " of storage " + range->key + ", which holds " +
                                            std::to_string(range->length) + " bytes");
  }

  const auto expected = row_major_strides(ref.shape);
  info.contiguous = true;
  for (std::size_t i = 0; i < ref.shape.size(); ++i) {
    info.contiguous = info.contiguous && (ref.shape[i] <= 1 || ref.strides[i] == expected[i]);
  }
  info.offset = range->offset + begin_byte;
  info.length = end_byte - begin_byte;
  info.alignment = offset_alignment(info.offset);
  m_names.emplace(name, m_checkpoint.tensors.size());
  m_checkpoint.tensors.push_back(std::move(info));
  return {};
}

void detect_prefixes(Checkpoint& checkpoint) {
  std::string accumulated;
  for (bool found = true; found && !checkpoint.tensors.empty();) {
    found = false;
    for (const auto prefix : k_wrapper_prefixes) {
      const auto candidate = accumulated + std::string(prefix);
      const bool all = std::all_of(checkpoint.tensors.begin(), checkpoint.tensors.end(),
                                   [&](const TensorInfo& t) { return t.name.starts_with(candidate); });
      if (all) {
        checkpoint.key_prefixes.emplace_back(prefix);
        accumulated = candidate;
        found = true;
        break;
      }
    }
  }
}

} // namespace

proto::Result<void> collect_state_dict(const PickleGraph& graph, const StorageResolver& resolve,
                                       const std::string& source, const ReadLimits& limits,
                                       Checkpoint& checkpoint) {
  const auto& root = graph.at(graph.root);
  if (root.kind != PickleKind::dict) {
    return invalid_checkpoint(source, "top-level object is a " + std::string(to_string(root.kind)) +
                                          ", not a dict of tensors (a state dict)");
  }
  const auto top = dict_items(graph, root);

  ValueId chosen = graph.root;
  if (!holds_tensor_directly(graph, root)) {
    for (const auto key : k_state_dict_keys) {
      const auto found = std::find_if(top.begin(), top.end(), [&](const auto& item) {
        return item.first == key;
      });
      if (found != top.end() && graph.at(found->second).kind == PickleKind::dict) {
        Checkpoint probe;
        Collector collector(graph, resolve, source, limits, probe);
        if (collector.flatten(found->second, "", 1) && !probe.tensors.empty()) {
          chosen = found->second;
          checkpoint.state_dict_path = std::string(key);
          break;
        }
      }
    }
  }

  Collector collector(graph, resolve, source, limits, checkpoint);
  if (auto flattened = collector.flatten(chosen, "", 1); !flattened) {
    return flattened;
  }
  if (checkpoint.tensors.empty()) {
    return invalid_checkpoint(source, "no tensors found in the checkpoint");
  }
  detect_prefixes(checkpoint);

  if (chosen != graph.root) {
    for (const auto& [key, value] : top) {
      if (value != chosen) {
        checkpoint.metadata[key] = to_json(graph, value);
      }
    }
  }
  return {};
}

} // namespace timmd::tensors

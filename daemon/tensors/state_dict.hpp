// Finding the state dict inside an unpickled PyTorch checkpoint and turning its tensors into
// TensorInfo entries.
//
// Discovery, first match wins:
// 1. the top-level dict contains tensors directly: it is the state dict (path "");
// 2. the first of "state_dict", "model_state_dict", "model", "state_dict_ema", "model_ema"
//    that is a dict containing tensors (path = that key);
// 3. otherwise every tensor reachable through nested dicts of the top level (path "").
// Nested dicts are flattened with "." between keys ({"layer1": {"weight": t}} gives
// "layer1.weight"); lists and tuples are not entered. A key set twice keeps its first position
// and its last value, as a Python dict does. Wrapper prefixes ("module.", "_orig_mod.") are
// reported in Checkpoint::key_prefixes and left in the names.
#pragma once

#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/pickle_value.hpp"

#include <functional>
#include <string>

namespace timmd::tensors {

// Bytes of one storage in the file.
struct StorageRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  // Stable name of the storage for TensorInfo::storage.
  std::string key;
};

// Maps a storage reference to its bytes, or fails when the file lacks them.
using StorageResolver = std::function<proto::Result<StorageRange>(const StorageRef&)>;

// Fills checkpoint.tensors, state_dict_path, key_prefixes and metadata from `graph`. Fails with
// invalid_checkpoint when no tensors are found, a tensor reaches outside its storage, or
// a name repeats after flattening.
proto::Result<void> collect_state_dict(const PickleGraph& graph, const StorageResolver& resolve,
                                       const std::string& source, const ReadLimits& limits,
                                       Checkpoint& checkpoint);

} // namespace timmd::tensors

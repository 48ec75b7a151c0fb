// The allow-list of the restricted unpickler and what each allowed callable builds.
//
// Allowed, because state dicts and timm training checkpoints need them:
// - collections.OrderedDict, torch.Size, builtins.set/frozenset: plain containers;
// - torch._utils._rebuild_tensor, _rebuild_tensor_v2, _rebuild_parameter,
//   _rebuild_parameter_with_state: tensors and nn.Parameter over a storage;
// - torch.<T>Storage (typed storage classes), torch.UntypedStorage,
//   torch.storage.UntypedStorage, torch.<dtype>: only as values (storage types in persistent
//   ids), never called;
// - numpy.core.multiarray.scalar and numpy.dtype (also under numpy._core): the numpy floats
//   and ints that training scripts store as metrics; they become JSON numbers;
// - argparse.Namespace: the `args` entry of timm's train.py checkpoints, kept as its dict;
// - _codecs.encode(str, "latin1"): how protocol 2 pickles spell bytes.
// numpy.core.multiarray._reconstruct (whole ndarrays) is not allowed: it would need BUILD with
// raw array data and does not appear in state dicts. Anything else is rejected.
#pragma once

#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/pickle_value.hpp"

#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace timmd::tensors {

// Fully qualified names ("module.name") of the allowed globals, besides the torch storage
// classes and dtypes, which is_allowed_global() also accepts.
std::span<const std::string_view> allowed_globals();

// True when GLOBAL/STACK_GLOBAL may push `module.name`.
bool is_allowed_global(std::string_view module, std::string_view name);

// Outcome of applying a callable: the new value, or why it was rejected (a phrase completed
// by the caller with the opcode and offset).
using CallOutcome = std::variant<ValueId, std::string>;

// REDUCE: calls the allowed global `callable` with the tuple `args`.
CallOutcome apply_reduce(PickleGraph& graph, ValueId callable, ValueId args, const ReadLimits& limits);

// NEWOBJ: cls.__new__(cls, *args) for argparse.Namespace and collections.OrderedDict.
CallOutcome apply_newobj(PickleGraph& graph, ValueId cls, ValueId args);

// BUILD: sets `state` on `target` (an OrderedDict's attributes, a numpy dtype's state, a
// Namespace's dict). Returns the target on success.
CallOutcome apply_build(PickleGraph& graph, ValueId target, ValueId state);

// BINPERSID: turns a persistent id tuple into a storage value.
CallOutcome load_persistent(PickleGraph& graph, ValueId pid);

} // namespace timmd::tensors

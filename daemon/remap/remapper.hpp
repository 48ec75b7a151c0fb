// Turns a checkpoint's state dict into the one timm's load_pretrained would hand to the model.
// The family's rule file runs first (layout conversion, resizes). Then come timm's generic steps
// (first conv adapted to in_chans, classifier dropped for another num_classes), and last the
// client's selection and dtype, checked against its manifest.
#pragma once

#include "daemon/remap/filter_spec.hpp"
#include "daemon/remap/model_facts.hpp"
#include "daemon/remap/rule_file.hpp"
#include "daemon/remap/tensor_value.hpp"
#include "daemon/tensors/byte_source.hpp"
#include "daemon/tensors/checkpoint.hpp"
#include "proto/error.hpp"

#include <string>
#include <vector>

namespace timmd::remap {

struct RemapInput {
  const tensors::Checkpoint& checkpoint;
  const tensors::ByteSource& source; // the checkpoint's bytes, read only for tensors a step computes on
  const ModelFacts& model;
  const FilterSpec& filter;
  const RuleFile* rules = nullptr;   // nullptr: the generic steps only
};

struct RemapResult {
  // In the manifest's key order when there is one (keys it lacks follow in state dict order),
  // otherwise in the checkpoint's order with renamed keys in place.
  std::vector<TensorValue> tensors;
  std::vector<std::string> missing_keys;    // in the manifest, not produced
  std::vector<std::string> unexpected_keys; // produced, not in the manifest
  // False when timm would load with strict=False: a head or first conv was dropped.
  bool strict = true;
  std::string family = "generic";
  // One line per generic adaptation, e.g. "dropped classifier head (10 classes requested, 1000
  // pretrained)".
  std::vector<std::string> notes;

  // True when no tensor contains computed bytes.
  bool only_source_bytes() const;
};

// Runs the whole remap. Fails with invalid_request when the filter cannot be applied: a manifest
// whose shapes the result does not meet (naming each mismatched key), or a rule that does not
// fit the checkpoint (naming the rule file and step). Fails with invalid_checkpoint when a tensor
// a step needs is malformed or a first conv that pretrained_cfg names is missing.
proto::Result<RemapResult> remap_state_dict(const RemapInput& input);

} // namespace timmd::remap

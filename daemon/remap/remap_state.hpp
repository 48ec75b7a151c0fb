// The state dict while rules run: its tensors in order, and access to their bytes. Internal to
// daemon/remap.
#pragma once

#include "daemon/remap/remapper.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace timmd::remap {

class RemapState {
public:
  RemapState(const RemapInput& input, RemapResult& result);

  std::vector<TensorValue>& tensors() { return m_tensors; }
  // nullptr when no tensor has that name.
  TensorValue* find(const std::string& name);

  // The value's elements, row-major. Source tensors are read once and kept while the remap
  // runs, because a split or a resize often reads the same tensor again.
  proto::Result<std::shared_ptr<const tensors::AlignedBuffer>> bytes(const TensorValue& value);
  // The elements as float32. REQUIRES: is_floating(value.dtype).
  proto::Result<std::vector<float>> floats(const TensorValue& value);

  // An invalid_request error that names the step and the tensor.
  static proto::Error step_error(const Step& step, const std::string& tensor, const std::string& what);

  const RemapInput& input;
  RemapResult& result;

private:
  std::vector<TensorValue> m_tensors;
  std::map<std::size_t, std::shared_ptr<const tensors::AlignedBuffer>> m_loaded;
};

// Runs rule steps in order (step_runner.cpp).
proto::Result<void> run_steps(RemapState& state, const std::vector<Step>& steps);

// timm's generic adaptations and the client's selection (generic_steps.cpp).
proto::Result<void> adapt_first_conv(RemapState& state);
proto::Result<void> adapt_classifier(RemapState& state);
proto::Result<void> apply_selection_and_dtype(RemapState& state);
proto::Result<void> order_and_check_manifest(RemapState& state);

} // namespace timmd::remap

#include "daemon/remap/remapper.hpp"

#include "daemon/remap/float_codec.hpp"
#include "daemon/remap/remap_state.hpp"

#include <algorithm>

namespace timmd::remap {
namespace {

// Regular expressions run on tensor names; std::regex recurses per character, so a hostile
// checkpoint with a megabyte-long name must not reach it.
constexpr std::size_t k_max_name_bytes = 4096;

} // namespace

bool RemapResult::only_source_bytes() const {
  return std::none_of(tensors.begin(), tensors.end(), [](const TensorValue& t) { return t.is_computed(); });
}

RemapState::RemapState(const RemapInput& input_, RemapResult& result_) : input(input_), result(result_) {
  const auto& infos = input.checkpoint.tensors;
  m_tensors.reserve(infos.size());
  for (std::size_t i = 0; i < infos.size(); ++i) {
    TensorValue value;
    value.name = infos[i].name;
    value.dtype = infos[i].dtype;
    value.shape = infos[i].shape;
    value.source = i;
    value.byte_length = byte_size(infos[i].dtype, infos[i].shape).value_or(0);
    m_tensors.push_back(std::move(value));
  }
}

TensorValue* RemapState::find(const std::string& name) {
  const auto found = std::find_if(m_tensors.begin(), m_tensors.end(), [&](const TensorValue& t) { return t.name == name; });
  return found == m_tensors.end() ? nullptr : &*found;
}

proto::Result<std::shared_ptr<const tensors::AlignedBuffer>> RemapState::bytes(const TensorValue& value) {
  if (value.is_computed()) {
    return value.computed;
  }
  const std::size_t index = *value.source;
  auto loaded = m_loaded.find(index);
  if (loaded == m_loaded.end()) {
    auto buffer = tensors::read_tensor(input.source, input.checkpoint.tensors[index]);
    if (!buffer) {
      return buffer.error();
    }
    loaded = m_loaded.emplace(index, std::make_shared<const tensors::AlignedBuffer>(std::move(*buffer))).first;
  }
  const auto& whole = loaded->second;
  if (value.source_byte_offset == 0 && value.byte_length == whole->bytes().size()) {
    return whole;
  }
  auto part = std::make_shared<tensors::AlignedBuffer>(value.byte_length, 64);
  std::copy_n(whole->bytes().data() + value.source_byte_offset, value.byte_length, part->bytes().data());
  return std::shared_ptr<const tensors::AlignedBuffer>(std::move(part));
}

proto::Result<std::vector<float>> RemapState::floats(const TensorValue& value) {
  auto data = bytes(value);
  if (!data) {
    return data.error();
  }
  return decode_floats(value.dtype, (*data)->bytes());
}

proto::Error RemapState::step_error(const Step& step, const std::string& tensor, const std::string& what) {
  return proto::make_error(proto::Errc::invalid_request,
                           "remap rules " + step.where + (tensor.empty() ? "" : ", tensor '" + tensor + "'") + ": " + what,
                           {{"step", step.where}, {"tensor", tensor}});
}

proto::Result<RemapResult> remap_state_dict(const RemapInput& input) {
  RemapResult result;
  for (const auto& info : input.checkpoint.tensors) {
    if (info.name.size() > k_max_name_bytes) {
      return proto::make_error(proto::Errc::invalid_checkpoint,
                               "a tensor name is " + std::to_string(info.name.size()) +
                                   " bytes long; timmd remaps names up to " + std::to_string(k_max_name_bytes) +
                                   " bytes");
    }
  }
  RemapState state(input, result);

  if (input.rules != nullptr) {
    result.family = input.rules->family;
    if (auto ran = run_steps(state, input.rules->steps); !ran) {
      return ran.error();
    }
  }

  // timm's order in load_pretrained: filter_fn, then in_chans, then the classifier.
  if (auto adapted = adapt_first_conv(state); !adapted) {
    return adapted.error();
  }
  if (auto adapted = adapt_classifier(state); !adapted) {
    return adapted.error();
  }
  if (auto selected = apply_selection_and_dtype(state); !selected) {
    return selected.error();
  }
  if (auto checked = order_and_check_manifest(state); !checked) {
    return checked.error();
  }
  result.tensors = std::move(state.tensors());
  return result;
}

} // namespace timmd::remap

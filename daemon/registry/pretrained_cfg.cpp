#include "daemon/registry/pretrained_cfg.hpp"

namespace timmd::registry {
namespace {

template <class T> nlohmann::json optional_to_json(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

} // namespace

nlohmann::json ModuleNames::to_json() const {
  if (!is_list && names.size() == 1) {
    return names.front();
  }
  return names;
}

nlohmann::json PretrainedCfg::to_json() const {
  return {
      {"input_size", input_size},
      {"test_input_size", optional_to_json(test_input_size)},
      {"min_input_size", optional_to_json(min_input_size)},
      {"fixed_input_size", fixed_input_size},
      {"pool_size", optional_to_json(pool_size)},
      {"crop_pct", crop_pct},
      {"test_crop_pct", optional_to_json(test_crop_pct)},
      {"crop_mode", crop_mode},
      {"interpolation", interpolation},
      {"mean", mean},
      {"std", std_dev},
      {"num_classes", num_classes},
      {"first_conv", first_conv.to_json()},
      {"classifier", classifier.to_json()},
      {"license", optional_to_json(license)},
  };
}

} // namespace timmd::registry

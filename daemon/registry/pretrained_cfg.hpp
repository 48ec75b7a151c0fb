// Preprocessing and head metadata of one pretrained weight, as in timm's PretrainedCfg.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace timmd::registry {

// Module names such as `first_conv` and `classifier`. timm writes one name as a string and
// several as a tuple; `is_list` keeps that form so to_json returns what timm would.
struct ModuleNames {
  std::vector<std::string> names;
  bool is_list = false;

  nlohmann::json to_json() const;
  friend bool operator==(const ModuleNames&, const ModuleNames&) = default;
};

// The members default to the defaults of timm's PretrainedCfg dataclass
// (timm/models/_pretrained.py), so a record that leaves a field out gets what timm would use.
struct PretrainedCfg {
  std::array<int, 3> input_size = {3, 224, 224}; // [C, H, W] for training
  std::optional<std::array<int, 3>> test_input_size;
  std::optional<std::array<int, 3>> min_input_size;
  bool fixed_input_size = false;
  std::optional<std::array<int, 2>> pool_size; // feature-map [H, W] at input_size
  double crop_pct = 0.875;
  std::optional<double> test_crop_pct;
  std::string crop_mode = "center";
  std::string interpolation = "bicubic";
  std::vector<double> mean = {0.485, 0.456, 0.406};
  std::vector<double> std_dev = {0.229, 0.224, 0.225}; // "std" in timm and in JSON
  int num_classes = 1000;                              // 0: the weights have no classifier
  ModuleNames first_conv{{"conv1"}, false};
  ModuleNames classifier{{"fc"}, false};
  std::optional<std::string> license;

  // Returns the fields under timm's names; absent optional fields are null.
  nlohmann::json to_json() const;
  friend bool operator==(const PretrainedCfg&, const PretrainedCfg&) = default;
};

} // namespace timmd::registry

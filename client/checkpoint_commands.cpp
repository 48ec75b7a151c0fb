#include "client/checkpoint_commands.hpp"

#include "client/progress_view.hpp"
#include "daemon/tensors/checkpoint.hpp"
#include "daemon/tensors/convert.hpp"
#include "daemon/tensors/dtype.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <string>

namespace timmd::client {
namespace {

using nlohmann::json;

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    text += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
  }
  return text + "]";
}

int report(const proto::Error& error, bool json_output) {
  if (json_output) {
    std::cout << json{{"ok", false}, {"error", error.to_json()}}.dump(2) << "\n";
  }
  std::cerr << "timmctl: " << proto::to_string(error.code) << ": " << error.message << "\n";
  return 1;
}

json checkpoint_json(const tensors::Checkpoint& checkpoint) {
  json tensors = json::array();
  for (const auto& tensor : checkpoint.tensors) {
    tensors.push_back({{"name", tensor.name},
                       {"dtype", std::string(tensors::safetensors_name(tensor.dtype))},
                       {"shape", tensor.shape},
                       {"offset", tensor.offset},
                       {"length", tensor.length},
                       {"alignment", tensor.alignment},
                       {"contiguous", tensor.contiguous}});
  }
  return {{"format", std::string(tensors::to_string(checkpoint.format))},
          {"state_dict_path", checkpoint.state_dict_path},
          {"key_prefixes", checkpoint.key_prefixes},
          {"metadata", checkpoint.metadata},
          {"tensors", std::move(tensors)}};
}

} // namespace

int inspect_checkpoint(const std::filesystem::path& file, bool json_output) {
  auto checkpoint = tensors::open_checkpoint(file);
  if (!checkpoint) {
    return report(checkpoint.error(), json_output);
  }
  if (json_output) {
    std::cout << checkpoint_json(*checkpoint).dump(2) << "\n";
    return 0;
  }

  std::uint64_t total = 0;
  for (const auto& tensor : checkpoint->tensors) {
    total += tensor.length;
  }
  std::cout << file.string() << ": " << tensors::to_string(checkpoint->format) << ", " << checkpoint->tensors.size()
            << " tensors, " << format_bytes(static_cast<double>(total)) << "\n";
  if (!checkpoint->state_dict_path.empty()) {
    std::cout << "state dict under '" << checkpoint->state_dict_path << "'\n";
  }
  for (const auto& prefix : checkpoint->key_prefixes) {
    std::cout << "every key starts with '" << prefix << "'\n";
  }
  for (const auto& tensor : checkpoint->tensors) {
    std::printf("%-48s %-5s %-20s bytes %llu-%llu%s\n", tensor.name.c_str(),
                std::string(tensors::safetensors_name(tensor.dtype)).c_str(), shape_text(tensor.shape).c_str(),
                static_cast<unsigned long long>(tensor.offset),
                static_cast<unsigned long long>(tensor.offset + tensor.length), tensor.contiguous ? "" : " (strided)");
  }
  return 0;
}

int convert_checkpoint(const std::filesystem::path& input, const std::filesystem::path& output, bool json_output) {
  auto converted = tensors::convert_to_safetensors(input, output);
  if (!converted) {
    return report(converted.error(), json_output);
  }
  auto written = tensors::open_checkpoint(output);
  if (!written) {
    return report(written.error(), json_output);
  }
  if (json_output) {
    std::cout << json{{"input", input.string()}, {"output", output.string()}, {"tensors", written->tensors.size()}}.dump(2)
              << "\n";
  } else {
    std::cout << "wrote " << written->tensors.size() << " tensors to " << output.string() << "\n";
  }
  return 0;
}

} // namespace timmd::client

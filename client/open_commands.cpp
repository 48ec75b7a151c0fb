#include "client/open_commands.hpp"

#include "client/progress_view.hpp"
#include "client/timmd_client.hpp"
#include "daemon/tensors/dtype.hpp"
#include "daemon/tensors/safetensors_writer.hpp"

#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>

#include <unistd.h>

namespace timmd::client {
namespace {

using nlohmann::json;

constexpr int k_exit_ok = 0;
constexpr int k_exit_error = 1;
constexpr int k_exit_usage = 2;

int report(const proto::Error& error, bool json_output) {
  if (json_output) {
    std::cout << json{{"ok", false}, {"error", error.to_json()}}.dump(2) << "\n";
  }
  std::cerr << "timmctl: " << proto::to_string(error.code) << ": " << error.message << "\n";
  return k_exit_error;
}

// "224" or "224,320" as the JSON the daemon takes; nullopt on anything else.
std::optional<json> size_option(const std::string& text) {
  if (text.empty()) {
    return json();
  }
  if (text.find('-') != std::string::npos) {
    return std::nullopt; // stoull would wrap "-5" around to a huge number
  }
  try {
    const auto comma = text.find(',');
    std::size_t used = 0;
    const auto first = std::stoull(text.substr(0, comma), &used);
    if (comma == std::string::npos) {
      return used == text.size() ? std::optional<json>(first) : std::nullopt;
    }
    const auto second = std::stoull(text.substr(comma + 1), &used);
    return used == text.size() - comma - 1 ? std::optional<json>(json::array({first, second})) : std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The request's filter object, or an error message for bad usage.
std::optional<json> build_filter(const FilterOptions& options, std::string& problem) {
  json filter = json::object();
  if (options.num_classes) {
    filter["num_classes"] = *options.num_classes;
  }
  if (options.in_chans) {
    filter["in_chans"] = *options.in_chans;
  }
  for (const auto& [key, text] : {std::pair{"img_size", options.img_size}, std::pair{"window_size", options.window_size}}) {
    const auto size = size_option(text);
    if (!size) {
      problem = std::string("--") + (std::string(key) == "img_size" ? "img-size" : "window-size") + " takes N or H,W, not '" +
                text + "'";
      return std::nullopt;
    }
    if (!size->is_null()) {
      filter[key] = *size;
    }
  }
  if (!options.dtype.empty()) {
    filter["dtype"] = options.dtype;
  }
  if (!options.include.empty()) {
    filter["include"] = options.include;
  }
  if (!options.exclude.empty()) {
    filter["exclude"] = options.exclude;
  }
  if (!options.manifest_file.empty()) {
    std::ifstream in(options.manifest_file);
    auto manifest = json::parse(in, nullptr, false);
    if (!in.good() && !in.eof()) {
      problem = "cannot read the manifest " + options.manifest_file;
      return std::nullopt;
    }
    if (manifest.is_discarded()) {
      problem = "the manifest " + options.manifest_file + " is not valid JSON";
      return std::nullopt;
    }
    filter["manifest"] = std::move(manifest);
  }
  return filter;
}

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    text += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
  }
  return text + (shape.size() == 1 ? ",)" : ")");
}

std::optional<MappedCheckpoint> open_mapped(const OpenCommand& command, const std::string& socket, bool json_output,
                                            int& status) {
  std::string problem;
  const auto filter = build_filter(command.filter, problem);
  if (!filter) {
    std::cerr << "timmctl: " << problem << "\n";
    status = k_exit_usage;
    return std::nullopt;
  }
  auto client = Client::connect(socket.empty() ? std::nullopt : std::optional<std::filesystem::path>(socket));
  if (!client) {
    status = report(client.error(), json_output);
    return std::nullopt;
  }
  ProgressView view(stderr, isatty(STDERR_FILENO) == 1 && !json_output);
  auto opened = client->open(command.name, *filter, command.revision, [&](const json& event) { view.update(event); });
  view.finish(static_cast<bool>(opened));
  if (!opened) {
    status = report(opened.error(), json_output);
    return std::nullopt;
  }
  const auto& info = opened->info();
  if (info.contains("notice") && info["notice"].is_string()) {
    std::cerr << "timmctl: warning: " << info["notice"].get<std::string>() << "\n";
  }
  return std::move(*opened);
}

void print_summary(const json& info, std::size_t tensors, std::ostream& out) {
  const auto& served = info["served"];
  out << "name      " << info.value("name", "") << "\n"
      << "repo      " << info.value("repo", "") << " @ " << info.value("commit", "") << "\n"
      << "weights   " << info["weights"].value("path", "") << " (" << info["weights"].value("format", "") << ")\n"
      << "rules     " << info.value("family", "") << " for " << info.value("architecture", "") << "\n"
      << "served    " << tensors << " tensors from "
      << (served.value("derived", false) ? "a derived blob " : "the stored weights ") << served.value("sha256", "")
      << " (prepared: " << served.value("prepared", "") << ")\n"
      << "strict    " << (info.value("strict", true) ? "yes" : "no (load with strict=False)") << "\n";
  for (const auto& note : info.value("notes", std::vector<std::string>{})) {
    out << "note      " << note << "\n";
  }
  for (const auto* key : {"missing_keys", "unexpected_keys"}) {
    const auto keys = info.value(key, std::vector<std::string>{});
    if (!keys.empty()) {
      // A long list is cut: --json prints all of it.
      constexpr std::size_t k_listed = 10;
      out << (std::string(key) == "missing_keys" ? "missing   " : "unexpected") << " " << keys.size() << ":";
      for (std::size_t i = 0; i < keys.size() && i < k_listed; ++i) {
        out << " " << keys[i];
      }
      out << (keys.size() > k_listed ? " ... (see --json)" : "") << "\n";
    }
  }
}

} // namespace

void add_filter_options(CLI::App& command, OpenCommand& options) {
  command.add_option("name", options.name, "timm model name or repository, as for pull")->required();
  command.add_option("--revision", options.revision, "branch, tag, refs/pr/N or 40-hex commit (default: main)");
  command.add_option("--num-classes", options.filter.num_classes,
                     "classes of the target model; a different count drops the pretrained classifier (0: none)");
  command.add_option("--in-chans", options.filter.in_chans, "input channels; the first conv is adapted as timm does");
  command.add_option("--img-size", options.filter.img_size, "H or H,W: position embeddings are resized to it");
  command.add_option("--window-size", options.filter.window_size,
                     "W or H,W: attention window of the target model (relative position tables)");
  command.add_option("--dtype", options.filter.dtype, "cast floating tensors to f32, f16 or bf16");
  command.add_option("--include", options.filter.include, "keep only tensors matching this glob (repeatable)");
  command.add_option("--exclude", options.filter.exclude, "drop tensors matching this glob (repeatable)");
  command.add_option("--manifest", options.filter.manifest_file,
                     "JSON {\"tensors\": [{name, shape, dtype}]} of the target model, in its key order")
      ->check(CLI::ExistingFile);
}

int run_open(const OpenCommand& command, const std::string& socket, bool json_output) {
  int status = k_exit_ok;
  auto opened = open_mapped(command, socket, json_output, status);
  if (!opened) {
    return status;
  }
  if (json_output) {
    auto answer = opened->info();
    json table = json::array();
    for (const auto& tensor : opened->tensors()) {
      table.push_back({{"name", tensor.name}, {"dtype", tensor.dtype}, {"shape", tensor.shape}});
    }
    answer["tensors"] = std::move(table);
    std::cout << answer.dump(2) << "\n";
    return k_exit_ok;
  }
  print_summary(opened->info(), opened->tensors().size(), std::cout);
  for (const auto& tensor : opened->tensors()) {
    std::cout << "  " << tensor.name << "  " << tensor.dtype << "  " << shape_text(tensor.shape) << "\n";
  }
  return k_exit_ok;
}

int run_export(const OpenCommand& command, const std::string& socket, bool json_output) {
  const std::filesystem::path output(command.output);
  const auto parent = output.has_parent_path() ? output.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  if (output.filename().empty() || std::filesystem::is_directory(output, ec)) {
    std::cerr << "timmctl: -o " << command.output << " is a directory; give a file name such as "
              << (output / "model.safetensors").string() << "\n";
    return k_exit_usage;
  }
  if (!std::filesystem::is_directory(parent, ec)) {
    std::cerr << "timmctl: the directory " << parent.string() << " of -o " << command.output
              << " does not exist; create it first\n";
    return k_exit_usage;
  }

  int status = k_exit_ok;
  auto opened = open_mapped(command, socket, json_output, status);
  if (!opened) {
    return status;
  }
  std::vector<tensors::SafetensorsInput> inputs;
  for (const auto& tensor : opened->tensors()) {
    const auto dtype = tensors::dtype_from_safetensors(tensor.dtype);
    if (!dtype) {
      return report(proto::make_error(proto::Errc::internal, "the daemon served the unknown dtype " + tensor.dtype),
                    json_output);
    }
    inputs.push_back(tensors::make_safetensors_input(tensor.name, *dtype, tensor.shape, tensor.data));
  }
  const auto& info = opened->info();
  const std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                       {"timmd.name", info.value("name", "")},
                                                       {"timmd.commit", info.value("commit", "")}};
  if (auto written = tensors::write_safetensors(command.output, std::move(inputs), metadata); !written) {
    return report(written.error(), json_output);
  }
  if (json_output) {
    auto answer = info;
    answer["output"] = command.output;
    std::cout << answer.dump(2) << "\n";
    return k_exit_ok;
  }
  print_summary(info, opened->tensors().size(), std::cerr);
  std::cout << command.output << "\n";
  return k_exit_ok;
}

} // namespace timmd::client

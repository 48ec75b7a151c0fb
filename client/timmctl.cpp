// timmctl: the command-line client of timmd.
#include "client/checkpoint_commands.hpp"
#include "client/daemon_locator.hpp"
#include "client/maintenance_commands.hpp"
#include "client/open_commands.hpp"
#include "client/progress_view.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include <unistd.h>

namespace {

using nlohmann::json;
using timmd::client::Connection;

constexpr int k_exit_ok = 0;
constexpr int k_exit_error = 1;
constexpr int k_exit_usage = 2;

struct GlobalOptions {
  std::string socket;
  bool json_output = false;
};

int report_error(const timmd::proto::Error& error, const GlobalOptions& options) {
  if (options.json_output) {
    std::cout << json{{"ok", false}, {"error", error.to_json()}}.dump(2) << "\n";
  }
  std::cerr << "timmctl: " << timmd::proto::to_string(error.code) << ": " << error.message << "\n";
  return k_exit_error;
}

std::optional<Connection> connect(const GlobalOptions& options, int& status) {
  timmd::client::LocateOptions locate;
  if (!options.socket.empty()) {
    locate.socket = options.socket;
  }
  locate.client_name = "timmctl/0.1.0";
  auto connection = timmd::client::connect_to_daemon(locate);
  if (!connection) {
    status = report_error(connection.error(), options);
    return std::nullopt;
  }
  return std::move(*connection);
}

// Connects, sends one request and returns its result. On failure it reports the error and sets
// `status` to the exit status.
std::optional<json> call_daemon(const GlobalOptions& options, const std::string& op, json params, int& status) {
  auto connection = connect(options, status);
  if (!connection) {
    return std::nullopt;
  }
  auto result = connection->request(op, std::move(params));
  if (!result) {
    status = report_error(result.error(), options);
    return std::nullopt;
  }
  return std::move(*result);
}

// Deprecation and normalisation notices go to stderr as warnings, whatever the output format.
void print_notice(const json& result) {
  if (result.contains("notice") && result["notice"].is_string()) {
    std::cerr << "timmctl: warning: " << result["notice"].get<std::string>() << "\n";
  }
}

int run_resolve(const GlobalOptions& options, const std::string& name, bool remote) {
  int status = k_exit_ok;
  const auto result = call_daemon(options, "resolve", {{"name", name}, {"remote", remote}}, status);
  if (!result) {
    return status;
  }
  print_notice(*result);
  if (options.json_output) {
    std::cout << result->dump(2) << "\n";
    return k_exit_ok;
  }

  const auto text = [](const json& value) { return value.is_string() ? value.get<std::string>() : std::string("-"); };
  const bool recorded = result->value("revision_from_cache", false);
  const auto revision = result->value("revision", json());
  std::cout << "name          " << text((*result)["name"]) << "\n"
            << "repo          " << text((*result)["repo"]) << "\n"
            << "revision      " << (revision.is_string() ? revision.get<std::string>() : "main (default)") << "\n"
            << "commit        " << text(result->value("commit", json()))
            << (recorded ? "  (recorded by an earlier pull)" : "") << "\n"
            << "resolved by   " << text((*result)["resolved_by"]) << "\n"
            << "file          " << text(result->value("file", json())) << "\n"
            << "weights file  " << text(result->value("weights_file", json())) << "\n";

  if (result->contains("files") && (*result)["files"].is_array()) {
    std::cout << "files\n";
    for (const auto& file : (*result)["files"]) {
      std::cout << "  " << file.value("etag", "") << "  " << file.value("path", "") << "  "
                << timmd::client::format_bytes(static_cast<double>(file.value("size", std::uint64_t{0}))) << "\n";
    }
  }

  if (result->contains("pretrained_cfg") && (*result)["pretrained_cfg"].is_object()) {
    std::cout << "pretrained_cfg (from " << text(result->value("pretrained_cfg_source", json())) << ")\n";
    for (const auto& [key, value] : (*result)["pretrained_cfg"].items()) {
      std::cout << "  " << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
    }
  }
  return k_exit_ok;
}

int run_reload(const GlobalOptions& options) {
  int status = k_exit_ok;
  const auto result = call_daemon(options, "reload", json::object(), status);
  if (!result) {
    return status;
  }
  if (options.json_output) {
    std::cout << result->dump(2) << "\n";
    return k_exit_ok;
  }
  std::cout << "registry reloaded: " << result->value("architectures", std::uint64_t{0}) << " architectures, "
            << result->value("tags", std::uint64_t{0}) << " pretrained tags from "
            << result->value("files", json::array()).size() << " files\n";
  return k_exit_ok;
}

int run_pull(const GlobalOptions& options, const std::string& name, const std::string& revision, bool all) {
  int status = k_exit_ok;
  auto connection = connect(options, status);
  if (!connection) {
    return status;
  }

  json params = {{"name", name}, {"all", all}};
  if (!revision.empty()) {
    params["revision"] = revision;
  }
  timmd::client::ProgressView view(stderr, isatty(STDERR_FILENO) == 1 && !options.json_output);
  auto result = connection->request("pull", params, [&](const json& event) { view.update(event); });
  view.finish(static_cast<bool>(result));
  if (!result) {
    return report_error(result.error(), options);
  }

  print_notice(*result);
  if (options.json_output) {
    std::cout << result->dump(2) << "\n";
    return k_exit_ok;
  }
  std::cout << "name      " << result->value("name", "") << " (" << result->value("resolved_by", "") << ")\n"
            << "repo      " << result->value("repo", "") << "\n"
            << "revision  " << result->value("revision", "") << "\n"
            << "commit    " << result->value("commit", "")
            << (result->value("revision_from_cache", false) ? "  (recorded earlier; the Hub was not asked)" : "")
            << "\n";
  for (const auto& file : (*result)["files"]) {
    std::cout << "file      " << file.value("path", "") << "  "
              << timmd::client::format_bytes(static_cast<double>(file.value("size", std::uint64_t{0})))
              << (file.value("cached", false) ? "  (was cached)" : "") << "\n"
              << "  sha256  " << file.value("sha256", "") << "\n"
              << "  blob    " << file.value("blob_path", "") << "\n";
  }
  return k_exit_ok;
}

int run_gc(const GlobalOptions& options, std::optional<std::uint64_t> max_size, bool dry_run) {
  int status = k_exit_ok;
  json params = {{"dry_run", dry_run}};
  if (max_size) {
    params["max_bytes"] = *max_size;
  }
  const auto result = call_daemon(options, "gc", params, status);
  if (!result) {
    return status;
  }
  if (options.json_output) {
    std::cout << result->dump(2) << "\n";
    return k_exit_ok;
  }
  for (const auto& blob : (*result)["evicted"]) {
    std::string repos;
    for (const auto& repo : blob["repos"]) {
      repos += (repos.empty() ? "" : ", ") + repo.get<std::string>();
    }
    std::cout << (dry_run ? "would evict " : "evicted ") << blob.value("sha256", "") << "  "
              << timmd::client::format_bytes(static_cast<double>(blob.value("size", std::uint64_t{0})))
              << (blob.value("derived", false) ? "  derived" : "") << "  " << (repos.empty() ? "-" : repos) << "\n";
  }
  std::cout << "cache " << timmd::client::format_bytes(static_cast<double>(result->value("bytes_before", std::uint64_t{0})))
            << " -> " << timmd::client::format_bytes(static_cast<double>(result->value("bytes_after", std::uint64_t{0})))
            << "; kept by pins: " << result->value("kept_pinned", 0) << ", in use by clients: "
            << result->value("kept_leased", 0) << "\n";
  if (!result->value("target_met", true)) {
    const auto pinned = result->value("kept_pinned", 0);
    const auto in_use = result->value("kept_leased", 0);
    std::cerr << "timmctl: warning: the cache stays above the target of "
              << timmd::client::format_bytes(static_cast<double>(result->value("max_bytes", std::uint64_t{0})))
              << " because of " << pinned << " pinned and " << in_use << " in-use blobs.";
    if (pinned > 0) {
      std::cerr << " Unpin the models with 'timmctl unpin NAME'.";
    }
    if (in_use > 0) {
      std::cerr << " Close the clients that opened models, or wait for the running pulls.";
    }
    std::cerr << " Then run gc again.\n";
  }
  return k_exit_ok;
}

int run_pin(const GlobalOptions& options, const std::string& op, const std::string& name, const std::string& revision) {
  int status = k_exit_ok;
  json params = {{"name", name}};
  if (!revision.empty()) {
    params["revision"] = revision;
  }
  const auto result = call_daemon(options, op, params, status);
  if (!result) {
    return status;
  }
  if (options.json_output) {
    std::cout << result->dump(2) << "\n";
    return k_exit_ok;
  }
  std::size_t changed = 0;
  std::size_t blobs = 0;
  for (const auto& blob : (*result)["blobs"]) {
    std::cout << blob.value("path", "") << "  " << blob.value("sha256", "") << "  pins: " << blob.value("pin_count", 0)
              << "\n";
    if (blob.value("changed", true)) {
      ++changed;
    }
    ++blobs;
  }

  const auto snapshot = result->value("repo", "") + "@" + result->value("revision", "") + " (commit " +
                        result->value("commit", "").substr(0, 12) + ")";
  if (op == "pin") {
    std::cout << "pinned " << blobs << " blobs of " << snapshot << "; gc keeps them until `timmctl unpin " << name
              << "`\n";
  } else if (changed == 0) {
    std::cout << snapshot << " was not pinned; nothing changed\n";
  } else {
    std::cout << "removed one pin from " << changed << " of " << blobs << " blobs of " << snapshot
              << "; a blob is kept from gc while its pin count is above 0\n";
  }
  return k_exit_ok;
}

int run_list(const GlobalOptions& options) {
  int status = k_exit_ok;
  const auto result = call_daemon(options, "list", json::object(), status);
  if (!result) {
    return status;
  }
  if (options.json_output) {
    std::cout << result->dump(2) << "\n";
    return k_exit_ok;
  }
  const auto& snapshots = (*result)["snapshots"];
  if (snapshots.empty()) {
    std::cout << "the cache is empty; fetch a model with `timmctl pull ORG/NAME`\n";
    return k_exit_ok;
  }
  std::printf("%-44s %-12s %-16s %s\n", "REPOSITORY", "COMMIT", "REFS", "CACHED");
  for (const auto& snapshot : snapshots) {
    std::string refs;
    for (const auto& ref : snapshot["refs"]) {
      refs += (refs.empty() ? "" : ",") + ref.get<std::string>();
    }
    const auto cached = snapshot.value("cached_bytes", std::uint64_t{0});
    std::printf("%-44s %-12s %-16s %s in %llu of %llu files\n", snapshot.value("repo", "").c_str(),
                snapshot.value("commit", "").substr(0, 12).c_str(), refs.empty() ? "-" : refs.c_str(),
                timmd::client::format_bytes(static_cast<double>(cached)).c_str(),
                static_cast<unsigned long long>(snapshot.value("cached_files", 0ULL)),
                static_cast<unsigned long long>(snapshot.value("files", 0ULL)));
  }
  return k_exit_ok;
}

int run_status(const GlobalOptions& options) {
  int status = k_exit_ok;
  const auto result = call_daemon(options, "status", json::object(), status);
  if (!result) {
    return status;
  }
  if (options.json_output) {
    std::cout << result->dump(2) << "\n";
    return k_exit_ok;
  }
  for (const auto& [key, value] : result->items()) {
    std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
  }
  return k_exit_ok;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"timmctl: fetch model weights through the timmd daemon and inspect its cache"};
  // At most one command; a missing or misspelt one is reported below with the valid names.
  app.require_subcommand(0, 1);
  app.allow_extras();
  // Global options are accepted after the subcommand too: `timmctl pull X --json`.
  app.fallthrough();
  GlobalOptions options;
  app.add_option("--socket", options.socket,
                 "daemon socket (default: $TIMMD_SOCKET, /run/timmd/timmd.sock, "
                 "then $XDG_RUNTIME_DIR/timmd.sock, starting a per-user daemon if none answers)");
  app.add_flag("--json", options.json_output, "print one JSON document on stdout instead of text");

  std::string name;
  std::string revision;
  bool all = false;
  auto* pull = app.add_subcommand("pull", "download a repository's weights and config.json into the cache");
  pull->add_option("name", name,
                   "timm model name (resnet50, vit_base_patch16_224.augreg_in21k) or repository "
                   "(ORG/NAME, ORG/NAME@REVISION, hf-hub:ORG/NAME)")
      ->required();
  pull->add_option("--revision", revision, "branch, tag, refs/pr/N or 40-hex commit (default: main)");
  pull->add_flag("--all", all, "download every file of the repository, not only weights and config.json");

  std::string resolve_name;
  bool remote = false;
  auto* resolve = app.add_subcommand("resolve", "show the repository, revision, commit and configuration a name "
                                                "resolves to, from the registry and the cache index");
  resolve->add_option("name", resolve_name, "timm model name or repository, optionally with @REVISION")->required();
  resolve->add_flag("--remote", remote,
                    "ask the Hub for the revision's current commit and file list (without it, no Hub request is made)");

  auto* reload = app.add_subcommand("reload", "reload the model registry and the remap rule files, as SIGHUP does; "
                                              "on an error the daemon keeps what it had");

  std::string checkpoint_file;
  auto* inspect = app.add_subcommand("inspect", "read a local checkpoint file and list its tensors (no daemon needed)");
  inspect->add_option("file", checkpoint_file, "safetensors, PyTorch (.bin/.pt/.pth), .npz or .npy file")
      ->required()
      ->check(CLI::ExistingFile);
  std::string convert_output;
  auto* convert = app.add_subcommand("convert", "convert a local checkpoint file to safetensors (no daemon needed)");
  convert->add_option("file", checkpoint_file, "PyTorch (.bin/.pt/.pth), .npz, .npy or safetensors file")
      ->required()
      ->check(CLI::ExistingFile);
  convert->add_option("-o,--output", convert_output, "safetensors file to write")->required();

  timmd::client::OpenCommand open_options;
  auto* open = app.add_subcommand("open", "print the tensor table the daemon serves for a model: filtered and "
                                          "remapped as timm would load it");
  timmd::client::add_filter_options(*open, open_options);
  timmd::client::OpenCommand export_options;
  auto* export_command = app.add_subcommand("export", "write the tensors the daemon serves for a model to a "
                                                      "safetensors file");
  timmd::client::add_filter_options(*export_command, export_options);
  export_command->add_option("-o,--output", export_options.output, "safetensors file to write")->required();

  std::optional<std::uint64_t> gc_max_size;
  bool gc_dry_run = false;
  auto* gc = app.add_subcommand("gc", "evict least recently used blobs (derived ones first), never pinned or open "
                                      "ones; without --max-size only unreferenced blobs go");
  gc->add_option("--max-size", gc_max_size, "shrink the cache to at most this many bytes");
  gc->add_flag("--dry-run", gc_dry_run, "list what would be evicted without removing anything");
  timmd::client::VerifyCommand verify_options;
  auto* verify = app.add_subcommand("verify", "re-hash the cached blobs and check the index against the files; "
                                              "corrupt blobs are moved to CACHE/quarantine/. Exit status 1 when "
                                              "a problem is left unrepaired");
  verify->add_option("name", verify_options.name,
                     "check only this model or repository (ORG/NAME[@REVISION]) at its recorded revisions "
                     "(default: the whole cache)");
  verify->add_option("--revision", verify_options.revision, "check only this branch, tag or commit of NAME");
  verify->add_flag("--repair", verify_options.repair,
                   "download again the files whose blobs were quarantined or missing");
  timmd::client::RemoveCommand remove_options;
  auto* remove = app.add_subcommand("remove", "forget a repository (or one revision) and delete the blobs no "
                                              "other repository, revision or pin uses");
  remove->add_option("name", remove_options.name, "timm model name or repository (ORG/NAME[@REVISION])")->required();
  remove->add_option("--revision", remove_options.revision,
                     "remove only this branch, tag or commit (default: every cached revision)");
  remove->add_flag("--dry-run", remove_options.dry_run, "list what would be removed without removing anything");
  std::string pin_name;
  std::string pin_revision;
  auto* pin = app.add_subcommand("pin", "keep a cached model's blobs out of garbage collection");
  pin->add_option("name", pin_name, "timm model name or repository")->required();
  pin->add_option("--revision", pin_revision, "branch, tag or commit (default: main)");
  auto* unpin = app.add_subcommand("unpin", "undo one pin of a cached model");
  unpin->add_option("name", pin_name, "timm model name or repository")->required();
  unpin->add_option("--revision", pin_revision, "branch, tag or commit (default: main)");

  auto* list = app.add_subcommand("list", "list the cached repository snapshots");
  auto* status = app.add_subcommand("status", "show the daemon's state");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? k_exit_ok : k_exit_usage;
  }

  if (pull->parsed()) {
    return run_pull(options, name, revision, all);
  }
  if (app.get_subcommands().empty()) {
    std::string commands;
    for (const auto* command : app.get_subcommands({})) {
      commands += (commands.empty() ? "" : ", ") + command->get_name();
    }
    const auto extras = app.remaining();
    std::cerr << "timmctl: " << (extras.empty() ? "a command is required" : "unknown command '" + extras.front() + "'")
              << "; commands: " << commands << " (see timmctl --help)\n";
    return k_exit_usage;
  }
  if (!app.remaining().empty()) {
    std::cerr << "timmctl: unexpected argument '" << app.remaining().front() << "' (see timmctl --help)\n";
    return k_exit_usage;
  }

  if (resolve->parsed()) {
    return run_resolve(options, resolve_name, remote);
  }
  if (reload->parsed()) {
    return run_reload(options);
  }
  if (inspect->parsed()) {
    return timmd::client::inspect_checkpoint(checkpoint_file, options.json_output);
  }
  if (convert->parsed()) {
    return timmd::client::convert_checkpoint(checkpoint_file, convert_output, options.json_output);
  }
  if (open->parsed()) {
    return timmd::client::run_open(open_options, options.socket, options.json_output);
  }
  if (export_command->parsed()) {
    return timmd::client::run_export(export_options, options.socket, options.json_output);
  }
  if (gc->parsed()) {
    return run_gc(options, gc_max_size, gc_dry_run);
  }
  if (verify->parsed()) {
    return timmd::client::run_verify(verify_options, options.socket, options.json_output);
  }
  if (remove->parsed()) {
    return timmd::client::run_remove(remove_options, options.socket, options.json_output);
  }
  if (pin->parsed() || unpin->parsed()) {
    return run_pin(options, pin->parsed() ? "pin" : "unpin", pin_name, pin_revision);
  }
  if (list->parsed()) {
    return run_list(options);
  }
  if (status->parsed()) {
    return run_status(options);
  }
  return k_exit_usage;
}

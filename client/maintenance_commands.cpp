#include "client/maintenance_commands.hpp"

#include "client/progress_view.hpp"
#include "client/timmd_client.hpp"
#include "proto/count_noun.hpp"

#include <iostream>
#include <optional>

#include <unistd.h>

namespace timmd::client {
namespace {

using nlohmann::json;

constexpr int k_exit_ok = 0;
constexpr int k_exit_error = 1;

int report(const proto::Error& error, bool json_output) {
  if (json_output) {
    std::cout << json{{"ok", false}, {"error", error.to_json()}}.dump(2) << "\n";
  }
  std::cerr << "timmctl: " << proto::to_string(error.code) << ": " << error.message << "\n";
  return k_exit_error;
}

std::optional<Client> connect(const std::string& socket, bool json_output, int& status) {
  auto client = Client::connect(socket.empty() ? std::nullopt : std::optional<std::filesystem::path>(socket));
  if (!client) {
    status = report(client.error(), json_output);
    return std::nullopt;
  }
  return std::move(*client);
}

// A verify progress event in the shape ProgressView draws: one bar for the bytes hashed.
json as_bar(const json& event, const std::string& label) {
  return {{"files", json::array({{{"path", label},
                                  {"size", event.value("bytes_total", std::uint64_t{0})},
                                  {"done", event.value("bytes_done", std::uint64_t{0})},
                                  {"state", event.value("phase", "")}}})}};
}

std::string join(const json& list) {
  std::string text;
  for (const auto& item : list) {
    text += (text.empty() ? "" : ", ") + item.get<std::string>();
  }
  return text.empty() ? "-" : text;
}

void print_blobs(const char* verb, const json& blobs) {
  for (const auto& blob : blobs) {
    std::cout << verb << blob.value("sha256", "") << "  "
              << format_bytes(static_cast<double>(blob.value("size", std::uint64_t{0})))
              << (blob.value("derived", false) ? "  derived" : "") << "\n";
  }
}

} // namespace

int run_verify(const VerifyCommand& command, const std::string& socket, bool json_output) {
  int status = k_exit_ok;
  auto client = connect(socket, json_output, status);
  if (!client) {
    return status;
  }
  json params = {{"repair", command.repair}};
  if (!command.name.empty()) {
    params["name"] = command.name;
  }
  if (!command.revision.empty()) {
    params["revision"] = command.revision;
  }

  const auto label = command.name.empty() ? std::string("cache") : command.name;
  ProgressView view(stderr, isatty(STDERR_FILENO) == 1 && !json_output);
  json last_event;
  auto result = client->connection().request("verify", params, [&](const json& event) {
    last_event = event;
    view.update(as_bar(event, label));
  });
  if (result && last_event.is_object()) {
    last_event["phase"] = "done";
    last_event["bytes_done"] = last_event.value("bytes_total", std::uint64_t{0});
    view.update(as_bar(last_event, label));
  }
  view.finish(static_cast<bool>(result));
  if (!result) {
    return report(result.error(), json_output);
  }

  const auto unrepaired = result->value("unrepaired", std::uint64_t{0});
  if (json_output) {
    std::cout << result->dump(2) << "\n";
    return unrepaired == 0 ? k_exit_ok : k_exit_error;
  }
  for (const auto& problem : (*result)["problems"]) {
    std::cout << problem.value("kind", "") << "  " << problem.value("sha256", "") << "\n"
              << "  found     " << problem.value("detail", "") << "\n"
              << "  used by   " << join(problem.value("repos", json::array())) << "\n"
              << "  action    " << problem.value("action", "");
    if (problem.value("action", "") == "none") {
      std::cout << " (the blob was already gone)";
    }
    if (problem.value("quarantine_path", json()).is_string()) {
      std::cout << " to " << problem["quarantine_path"].get<std::string>();
    }
    if (problem.value("leased", false)) {
      std::cout << " (a client still has it open)";
    }
    std::cout << "\n"
              << "  " << (problem.value("repaired", false) ? "repaired  " : "NOT REPAIRED  ")
              << problem.value("repair", "") << "\n";
  }
  std::cout << "checked " << result->value("blobs_checked", 0) << " blobs ("
            << format_bytes(static_cast<double>(result->value("bytes_hashed", std::uint64_t{0})))
            << " hashed) and " << result->value("file_rows_checked", 0) << " file rows: "
            << proto::count_noun((*result)["problems"].size(), "problem", "problems") << ", " << unrepaired
            << " not repaired\n";
  return unrepaired == 0 ? k_exit_ok : k_exit_error;
}

int run_remove(const RemoveCommand& command, const std::string& socket, bool json_output) {
  int status = k_exit_ok;
  auto client = connect(socket, json_output, status);
  if (!client) {
    return status;
  }
  json params = {{"name", command.name}, {"dry_run", command.dry_run}};
  if (!command.revision.empty()) {
    params["revision"] = command.revision;
  }
  const auto result = client->connection().request("remove", params);
  if (!result) {
    return report(result.error(), json_output);
  }
  if (json_output) {
    std::cout << result->dump(2) << "\n";
    return k_exit_ok;
  }

  const bool dry_run = command.dry_run;
  std::cout << (dry_run ? "would remove " : "removed ") << result->value("repo", "")
            << ": refs " << join(result->value("refs", json::array())) << "; commits "
            << join(result->value("commits", json::array())) << "\n";
  print_blobs(dry_run ? "would delete " : "deleted ", (*result)["removed"]);
  print_blobs("kept (in use by a client or a pull; gc deletes it later) ", (*result)["kept_leased"]);
  std::cout << format_bytes(static_cast<double>(result->value("freed_bytes", std::uint64_t{0})))
            << (dry_run ? " would be freed" : " freed") << "; " << result->value("kept_shared", 0)
            << " blobs kept because other repositories or revisions use them\n";
  return k_exit_ok;
}

} // namespace timmd::client

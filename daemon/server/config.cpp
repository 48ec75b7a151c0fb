#include "daemon/server/config.hpp"

#include "daemon/registry/edit_distance.hpp"
#include "proto/paths.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <unistd.h>

namespace timmd::server {
namespace {

using nlohmann::json;
using proto::Errc;

proto::Error config_error(const std::string& source, const std::string& what) {
  return proto::make_error(Errc::invalid_request, "invalid configuration in " + source + ": " + what,
                           {{"source", source}});
}

std::string trim(std::string text) {
  const auto not_space = [](unsigned char c) { return std::isspace(c) == 0; };
  text.erase(text.begin(), std::ranges::find_if(text, not_space));
  text.erase(std::find_if(text.rbegin(), text.rend(), not_space).base(), text.end());
  return text;
}

bool env_truthy(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) {
    return false;
  }
  std::string text(value);
  std::ranges::transform(text, text.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text == "1" || text == "ON" || text == "YES" || text == "TRUE";
}

bool is_http_url(const std::string& url) {
  return (url.starts_with("http://") || url.starts_with("https://")) &&
         url.find_first_of(" \t\r\n") == std::string::npos && url.size() > 8;
}

std::string normalize_endpoint(std::string endpoint) {
  while (endpoint.ends_with('/')) {
    endpoint.pop_back();
  }
  return endpoint;
}

// Reads one typed field of a JSON object, with an error that names the key and expected type.
class FieldReader {
public:
  FieldReader(const json& object, std::string source, std::string prefix)
      : m_object(object), m_source(std::move(source)), m_prefix(std::move(prefix)) {}

  template <class T> proto::Result<void> read(const char* key, T& out) {
    m_seen.insert(key);
    if (!m_object.contains(key)) {
      return {};
    }
    const auto& value = m_object[key];
    if constexpr (std::is_same_v<T, bool>) {
      if (!value.is_boolean()) {
        return type_error(key, "true or false");
      }
      out = value.get<bool>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!value.is_string()) {
        return type_error(key, "a string");
      }
      out = value.get<std::string>();
    } else if constexpr (std::is_same_v<T, std::filesystem::path>) {
      if (!value.is_string()) {
        return type_error(key, "a path string");
      }
      out = value.get<std::string>();
    } else {
      if (!value.is_number_unsigned()) {
        return type_error(key, "a non-negative integer");
      }
      const auto number = value.get<std::uint64_t>();
      constexpr auto k_max = static_cast<std::uint64_t>(std::numeric_limits<T>::max());
      if (number > k_max) {
        return config_error(m_source, "'" + m_prefix + key + "' must be at most " + std::to_string(k_max) + ", not " +
                                          std::to_string(number));
      }
      out = static_cast<T>(number);
    }
    return {};
  }

  template <class Duration> proto::Result<void> read_duration(const char* key, Duration& out) {
    std::uint64_t count = static_cast<std::uint64_t>(out.count());
    auto result = read(key, count);
    out = Duration(static_cast<typename Duration::rep>(count));
    return result;
  }

  void mark_known(const char* key) { m_seen.insert(key); }

  // Rejects keys that no read() asked for: a misspelt key must not be ignored silently. The
  // error suggests the known key closest to it, when one is within two edits.
  proto::Result<void> check_unknown() const {
    for (const auto& [key, value] : m_object.items()) {
      if (m_seen.contains(key)) {
        continue;
      }
      std::string message = "unknown key '" + m_prefix + key + "'; timmd(8) lists the keys";
      std::size_t closest_distance = 3;
      for (const auto& known : m_seen) {
        if (const auto distance = registry::edit_distance(key, known); distance < closest_distance) {
          closest_distance = distance;
          message = "unknown key '" + m_prefix + key + "'; did you mean '" + m_prefix + known + "'?";
        }
      }
      return config_error(m_source, message);
    }
    return {};
  }

private:
  proto::Result<void> type_error(const char* key, const char* expected) const {
    return config_error(m_source, "'" + m_prefix + key + "' must be " + expected);
  }

  const json& m_object;
  std::string m_source;
  std::string m_prefix;
  std::set<std::string> m_seen;
};

proto::Result<void> apply_download(const json& object, const std::string& source, DownloadConfig& d) {
  if (!object.is_object()) {
    return config_error(source, "'download' must be an object");
  }
  FieldReader reader(object, source, "download.");
  for (auto result :
       {reader.read("chunk_size", d.chunk_size), reader.read("connections_per_file", d.connections_per_file),
        reader.read("initial_connections", d.initial_connections), reader.read("max_connections", d.max_connections),
        reader.read("max_connections_per_host", d.max_connections_per_host),
        reader.read("max_parallel_files", d.max_parallel_files),
        reader.read_duration("connect_timeout_s", d.connect_timeout),
        reader.read_duration("stall_timeout_s", d.stall_timeout),
        reader.read_duration("file_deadline_s", d.file_deadline), reader.read("retry_attempts", d.retry_attempts),
        reader.read_duration("retry_base_delay_ms", d.retry_base_delay),
        reader.read_duration("retry_max_delay_ms", d.retry_max_delay), reader.check_unknown()}) {
    if (!result) {
      return result;
    }
  }
  if (d.chunk_size < 64 * 1024) {
    return config_error(source, "'download.chunk_size' must be at least 65536 bytes");
  }
  const std::pair<const char*, int> counts[] = {{"connections_per_file", d.connections_per_file},
                                                {"initial_connections", d.initial_connections},
                                                {"max_connections", d.max_connections},
                                                {"max_connections_per_host", d.max_connections_per_host},
                                                {"max_parallel_files", d.max_parallel_files},
                                                {"retry_attempts", d.retry_attempts}};
  for (const auto& [key, value] : counts) {
    if (value < 1) {
      return config_error(source, std::string("'download.") + key + "' must be at least 1, not " +
                                      std::to_string(value));
    }
  }
  // Only an explicit value is checked: the default of 4 simply caps at a smaller connections_per_file.
  if (object.contains("initial_connections") && d.initial_connections > d.connections_per_file) {
    return config_error(source, "'download.initial_connections' (" + std::to_string(d.initial_connections) +
                                    ") must not exceed 'download.connections_per_file' (" +
                                    std::to_string(d.connections_per_file) + "); raise connections_per_file or "
                                    "lower initial_connections");
  }
  return {};
}

proto::Result<void> apply_file(const std::filesystem::path& file, Config& config) {
  std::ifstream in(file);
  if (!in) {
    return config_error(file.string(), "cannot open the file; check the --config path");
  }
  std::stringstream text;
  text << in.rdbuf();
  json root;
  try {
    root = json::parse(text.str());
  } catch (const json::parse_error& error) {
    // nlohmann's message names the line and column of the error.
    return config_error(file.string(), std::string("invalid JSON: ") + error.what());
  }
  if (!root.is_object()) {
    return config_error(file.string(), "the file must hold a JSON object, not " + std::string(root.type_name()));
  }

  const auto source = file.string();
  FieldReader reader(root, source, "");
  std::string socket_mode;
  std::uint64_t shutdown_grace = static_cast<std::uint64_t>(config.shutdown_grace.count());
  for (auto result : {reader.read("cache_dir", config.cache_dir), reader.read("socket", config.socket_path),
                      reader.read("socket_mode", socket_mode), reader.read("endpoint", config.endpoint),
                      reader.read("token", config.token), reader.read("token_file", config.token_file),
                      reader.read("offline", config.offline), reader.read("log_level", config.log_level), reader.read("registry_dir", config.registry_dir), reader.read("remap_dir", config.remap_dir),
                      reader.read_duration("open_revision_ttl_s", config.open_revision_ttl),
                      reader.read("max_cache_bytes", config.max_cache_bytes),
                      reader.read("min_free_bytes", config.min_free_bytes), reader.read("auto_gc", config.auto_gc),
                      reader.read("allow_network_cache", config.allow_network_cache),
                      reader.read("shutdown_grace_s", shutdown_grace),
                      reader.read_duration("client_idle_timeout_s", config.client_idle_timeout),
                      reader.read_duration("frame_timeout_s", config.frame_timeout),
                      reader.read("max_clients", config.max_clients)}) {
    if (!result) {
      return result;
    }
  }
  config.shutdown_grace = std::chrono::seconds(shutdown_grace);
  if (!config.token.empty()) {
    config.token_source = "config";
  }

  if (root.contains("registry_files")) {
    const auto& files = root["registry_files"];
    if (!files.is_array()) {
      return config_error(source, "'registry_files' must be an array of paths");
    }
    for (const auto& entry : files) {
      if (!entry.is_string()) {
        return config_error(source, "'registry_files' must contain only path strings");
      }
      config.registry_files.emplace_back(entry.get<std::string>());
    }
  }
  reader.mark_known("registry_files");
  if (root.contains("aliases")) {
    if (!root["aliases"].is_object()) {
      return config_error(source, "'aliases' must be an object of alias -> model name");
    }
    config.aliases = root["aliases"];
  }
  reader.mark_known("aliases");
  if (root.contains("access")) {
    config.access = root["access"];
  }
  reader.mark_known("access");

  if (root.contains("download")) {
    if (auto result = apply_download(root["download"], source, config.download); !result) {
      return result;
    }
  }
  reader.mark_known("download");
  if (auto result = reader.check_unknown(); !result) {
    return result;
  }

  if (!socket_mode.empty()) {
    char* end = nullptr;
    const auto mode = std::strtoul(socket_mode.c_str(), &end, 8);
    if (end == socket_mode.c_str() || *end != '\0' || mode > 0777) {
      return config_error(source, "'socket_mode' must be an octal mode such as \"0660\", not '" + socket_mode + "'");
    }
    config.socket_mode = static_cast<unsigned>(mode);
  }
  return {};
}

proto::Result<std::string> read_token_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) {
    return config_error(file.string(), "cannot read the token file; check 'token_file' and its permissions");
  }
  std::string token;
  std::getline(in, token);
  token = trim(token);
  if (token.empty()) {
    return config_error(file.string(), "the token file is empty");
  }
  return token;
}

} // namespace

std::filesystem::path default_cache_dir() {
  return geteuid() == 0 ? proto::k_system_cache_dir : proto::user_cache_dir();
}

std::filesystem::path default_socket_path() {
  return geteuid() == 0 ? proto::k_system_socket_path : proto::user_socket_path();
}

std::filesystem::path default_registry_dir() {
  const std::filesystem::path installed = TIMMD_INSTALLED_REGISTRY_DIR;
  std::error_code ec;
  if (std::filesystem::exists(installed / "timm-registry.json", ec)) {
    return installed;
  }
  return TIMMD_SOURCE_REGISTRY_DIR;
}

std::filesystem::path default_remap_dir() {
  const std::filesystem::path installed = TIMMD_INSTALLED_REMAP_DIR;
  std::error_code ec;
  if (std::filesystem::is_directory(installed, ec)) {
    return installed;
  }
  return TIMMD_SOURCE_REMAP_DIR;
}

proto::Result<Config> load_config(const CommandLine& command_line) {
  Config config;
  config.registry_dir = default_registry_dir();
  config.remap_dir = default_remap_dir();
  config.cache_dir = default_cache_dir();
  config.socket_path = default_socket_path();
  config.socket_mode = geteuid() == 0 ? 0660 : 0600;

  if (command_line.config_file) {
    if (auto applied = apply_file(*command_line.config_file, config); !applied) {
      return applied.error();
    }
  }

  if (const char* endpoint = std::getenv("HF_ENDPOINT"); endpoint != nullptr && *endpoint != '\0') {
    config.endpoint = endpoint;
  }
  if (!config.token_file.empty()) {
    auto token = read_token_file(config.token_file);
    if (!token) {
      return token.error();
    }
    config.token = *token;
    config.token_source = "token_file";
  }
  if (const char* token = std::getenv("HF_TOKEN"); token != nullptr && *token != '\0') {
    config.token = trim(token);
    config.token_source = "HF_TOKEN";
  }
  if (env_truthy("HF_HUB_OFFLINE")) {
    config.offline = true;
  }

  if (command_line.cache_dir) {
    config.cache_dir = *command_line.cache_dir;
  }
  if (command_line.socket_path) {
    config.socket_path = *command_line.socket_path;
  }
  if (command_line.endpoint) {
    config.endpoint = *command_line.endpoint;
  }
  if (command_line.offline) {
    config.offline = true;
  }
  if (command_line.log_level) {
    config.log_level = *command_line.log_level;
  }
  config.debug_skip_verify = command_line.debug_skip_verify;

  config.endpoint = normalize_endpoint(config.endpoint);
  if (!is_http_url(config.endpoint)) {
    return config_error("the endpoint setting", "'" + config.endpoint + "' is not an http:// or https:// URL");
  }
  if (config.cache_dir.is_relative()) {
    config.cache_dir = std::filesystem::absolute(config.cache_dir);
  }
  if (config.socket_path.is_relative()) {
    config.socket_path = std::filesystem::absolute(config.socket_path);
  }
  static const std::set<std::string> k_levels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!k_levels.contains(config.log_level)) {
    return config_error("the log_level setting",
                        "'" + config.log_level + "' is not one of trace, debug, info, warn, error, critical, off");
  }
  return config;
}

} // namespace timmd::server

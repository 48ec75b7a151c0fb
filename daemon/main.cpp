// timmd: fetches model weights from the Hugging Face Hub into a verified cache and serves them
// to local clients over a Unix socket.
#include "daemon/server/config.hpp"
#include "daemon/server/daemon.hpp"

#include <CLI/CLI.hpp>
#include <curl/curl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include <unistd.h>

int main(int argc, char** argv) {
  CLI::App app{"timmd: a daemon that downloads model weights from the Hugging Face Hub into a verified, "
               "content-addressed cache and serves them to local clients"};
  timmd::server::CommandLine command_line;
  std::string config_file;
  std::string cache_dir;
  std::string socket_path;
  std::string endpoint;
  std::string log_level;
  app.add_option("--config", config_file, "JSON configuration file (see config/timmd.json)");
  app.add_option("--cache-dir", cache_dir,
                 "cache directory (default: /var/cache/timmd as root, else $XDG_CACHE_HOME/timmd)");
  app.add_option("--socket", socket_path,
                 "Unix socket path (default: /run/timmd/timmd.sock as root, else $XDG_RUNTIME_DIR/timmd.sock)");
  app.add_option("--endpoint", endpoint, "Hub endpoint URL (default: $HF_ENDPOINT, else https://huggingface.co)");
  app.add_flag("--offline", command_line.offline,
               "serve only what is cached; never contact the Hub (also HF_HUB_OFFLINE=1)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off (default: info)");
  app.add_flag("--debug-skip-verify", command_line.debug_skip_verify,
               "benchmarks only: publish downloaded LFS files without hashing them, to measure what "
               "verification costs; never use it on a cache that serves models");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }

  auto set = [](const std::string& value, auto& target) {
    if (!value.empty()) {
      target = value;
    }
  };
  set(config_file, command_line.config_file);
  set(cache_dir, command_line.cache_dir);
  set(socket_path, command_line.socket_path);
  set(endpoint, command_line.endpoint);
  set(log_level, command_line.log_level);

  // Under systemd the journal adds its own timestamps; elsewhere the log goes to stderr as is.
  auto logger = spdlog::stderr_color_mt("timmd");
  const bool under_journal = std::getenv("JOURNAL_STREAM") != nullptr;
  logger->set_pattern(under_journal ? "[%l] %v" : "%Y-%m-%d %H:%M:%S.%e [%l] %v");
  spdlog::set_default_logger(logger);

  auto config = timmd::server::load_config(command_line);
  if (!config) {
    spdlog::critical("{}", config.error().message);
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(config->log_level));
  spdlog::flush_on(spdlog::level::info);

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    spdlog::critical("libcurl failed to initialise");
    return 1;
  }
  const int status = timmd::server::run_daemon(*config);
  curl_global_cleanup();
  return status;
}

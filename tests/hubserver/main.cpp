// timmd-testhub: the test Hub as a process, for the README demo, benchmarks and scripts.
#include "tests/hubserver/hub_server.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace {

// Writes the ready file through a temporary beside it, so a watcher never reads half of it.
void write_ready_file(const std::filesystem::path& path, const timmd::testhub::Server& server) {
  const auto temporary = path.string() + ".tmp";
  {
    std::ofstream output(temporary, std::ios::trunc);
    output << nlohmann::json{{"api", server.endpoint()}, {"cdn", server.cdn_endpoint()}}.dump() << "\n";
    if (!output) {
      throw std::runtime_error("cannot write " + temporary);
    }
  }
  std::filesystem::rename(temporary, path);
}

} // namespace

int main(int argc, char** argv) {
  timmd::testhub::Options options;
  std::string ready_file;
  std::string log_level = "info";

  CLI::App app{"Fake Hugging Face Hub serving model repositories from a directory over HTTP"};
  app.add_option("--repos", options.repos_root, "Directory of repositories, laid out as ORG/NAME")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--host", options.host, "Address to listen on (loopback only)")->capture_default_str();
  app.add_option("--port", options.api_port, "API port; 0 picks a free port")->capture_default_str();
  app.add_option("--cdn-port", options.cdn_port, "CDN port that LFS downloads redirect to; 0 picks a free port")
      ->capture_default_str();
  app.add_option("--token", options.token, "The only valid Bearer token; without it no token is valid");
  app.add_option("--page-size", options.tree_page_size, "Tree listing entries per page")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--throttle", options.throttle_bytes_per_second,
                 "Maximum bytes per second per connection; 0 = unthrottled")
      ->capture_default_str();
  app.add_option("--link-throttle", options.link_bytes_per_second,
                 "Maximum bytes per second of all connections together; 0 = unthrottled")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "Threads serving connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--ready-file", ready_file, "Write {\"api\": URL, \"cdn\": URL} here once listening");
  app.add_option("--log-level", log_level, "trace, debug (one line per request), info, warn or error")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // Logs go to stderr: stdout carries only the ready line that scripts parse.
  spdlog::set_default_logger(spdlog::stderr_color_mt("testhub"));
  spdlog::set_level(spdlog::level::from_str(log_level));

  try {
    // The signal handlers are installed before the server threads start, so a SIGTERM that
    // arrives during start-up is queued for the signal_set, not fatal.
    boost::asio::io_context signals_context;
    boost::asio::signal_set signals(signals_context, SIGINT, SIGTERM);

    timmd::testhub::Server server(options);
    server.start();
    std::cout << "timmd-testhub api=" << server.endpoint() << " cdn=" << server.cdn_endpoint() << std::endl;
    if (!ready_file.empty()) {
      write_ready_file(ready_file, server);
    }

    signals.async_wait([](const boost::system::error_code&, int signal_number) {
      spdlog::info("received signal {}, stopping", signal_number);
    });
    signals_context.run();
    server.stop();
  } catch (const std::exception& error) {
    spdlog::error("timmd-testhub: {}", error.what());
    return 1;
  }
  return 0;
}

#include "daemon/server/config.hpp"

#include "server_test_support.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include <unistd.h>

using namespace std::chrono_literals;
using namespace timmd::server;
using namespace timmd::server::testing;
using timmd::proto::Errc;
using timmd::proto::Result;

namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// Clears the variables load_config reads, so the caller's environment cannot leak into a test.
struct CleanEnv {
  ScopedEnv endpoint{"HF_ENDPOINT", std::nullopt};
  ScopedEnv token{"HF_TOKEN", std::nullopt};
  ScopedEnv offline{"HF_HUB_OFFLINE", std::nullopt};
};

// Writes `json` to DIR/timmd.json and loads it.
Result<Config> load_file(const TempDir& dir, std::string_view json) {
  const auto file = dir.path() / "timmd.json";
  write_file(file, json);
  CommandLine command_line;
  command_line.config_file = file;
  return load_config(command_line);
}

} // namespace

TEST_CASE("config: defaults") {
  const CleanEnv env;
  const auto config = load_config(CommandLine{});
  REQUIRE(config.has_value());
  CHECK(config->endpoint == "https://huggingface.co");
  CHECK(config->token.empty());
  CHECK(config->token_source == "none");
  CHECK_FALSE(config->offline);
  CHECK(config->log_level == "info");
  CHECK(config->cache_dir == default_cache_dir());
  CHECK(config->socket_path == default_socket_path());
  CHECK(config->socket_mode == (::geteuid() == 0 ? 0660U : 0600U));
  CHECK(config->download.chunk_size == 32ULL * 1024 * 1024);
  CHECK(config->download.connections_per_file == 8);
  CHECK(config->download.initial_connections == 4);
  CHECK(config->download.max_connections_per_host == 16);
  CHECK(config->download.retry_attempts == 6);
  CHECK(config->shutdown_grace == 10s);
}

TEST_CASE("config: file values") {
  const CleanEnv env;
  const TempDir dir;
  const auto config = load_file(dir, R"({
    "cache_dir": "/srv/timmd/cache",
    "socket": "/srv/timmd/timmd.sock",
    "socket_mode": "0640",
    "endpoint": "http://127.0.0.1:8080/",
    "token": "hf_from_config",
    "offline": true,
    "log_level": "debug",
    "shutdown_grace_s": 3,
    "client_idle_timeout_s": 60,
    "frame_timeout_s": 7,
    "max_clients": 10,
    "download": {"chunk_size": 1048576, "connections_per_file": 2, "initial_connections": 1,
                 "max_connections": 5, "max_connections_per_host": 4, "max_parallel_files": 3,
                 "connect_timeout_s": 4, "stall_timeout_s": 9,
                 "file_deadline_s": 600, "retry_attempts": 2, "retry_base_delay_ms": 50,
                 "retry_max_delay_ms": 400}
  })");
  REQUIRE(config.has_value());

  CHECK(config->cache_dir == "/srv/timmd/cache");
  CHECK(config->socket_path == "/srv/timmd/timmd.sock");
  CHECK(config->socket_mode == 0640U);
  CHECK(config->endpoint == "http://127.0.0.1:8080");
  CHECK(config->token == "hf_from_config");
  CHECK(config->token_source == "config");
  CHECK(config->offline);
  CHECK(config->log_level == "debug");
  CHECK(config->shutdown_grace == 3s);
  CHECK(config->client_idle_timeout == 60s);
  CHECK(config->frame_timeout == 7s);
  CHECK(config->max_clients == 10);

  CHECK(config->download.chunk_size == 1048576);
  CHECK(config->download.connections_per_file == 2);
  CHECK(config->download.initial_connections == 1);
  CHECK(config->download.max_connections == 5);
  CHECK(config->download.max_connections_per_host == 4);
  CHECK(config->download.max_parallel_files == 3);
  CHECK(config->download.connect_timeout == 4s);
  CHECK(config->download.stall_timeout == 9s);
  CHECK(config->download.file_deadline == 600s);
  CHECK(config->download.retry_attempts == 2);
  CHECK(config->download.retry_base_delay == 50ms);
  CHECK(config->download.retry_max_delay == 400ms);
}

TEST_CASE("config: relative paths made absolute") {
  const CleanEnv env;
  const TempDir dir;
  const auto config = load_file(dir, R"({"cache_dir": "cache", "socket": "run/timmd.sock"})");
  REQUIRE(config.has_value());
  CHECK(config->cache_dir.is_absolute());
  CHECK(config->cache_dir == std::filesystem::current_path() / "cache");
  CHECK(config->socket_path.is_absolute());
}

TEST_CASE("config: unknown key named") {
  const CleanEnv env;
  const TempDir dir;
  const auto config = load_file(dir, R"({"cache_dri": "/srv/cache"})");
  REQUIRE_FALSE(config.has_value());
  CHECK(config.error().code == Errc::invalid_request);
  CHECK(contains(config.error().message, "'cache_dri'"));
  CHECK(contains(config.error().message, "did you mean 'cache_dir'?"));
  CHECK(contains(config.error().message, (dir.path() / "timmd.json").string()));
}

TEST_CASE("config: unknown download key named") {
  const CleanEnv env;
  const TempDir dir;
  const auto config = load_file(dir, R"({"download": {"chunk_sise": 1048576}})");
  REQUIRE_FALSE(config.has_value());
  CHECK(contains(config.error().message, "'download.chunk_sise'"));
  CHECK(contains(config.error().message, "did you mean 'download.chunk_size'?"));

  // A key far from every known one gets no suggestion.
  const auto unrelated = load_file(dir, R"({"download": {"colour": 1}})");
  REQUIRE_FALSE(unrelated.has_value());
  CHECK_FALSE(contains(unrelated.error().message, "did you mean"));
}

TEST_CASE("config: wrong types named") {
  const CleanEnv env;
  const TempDir dir;
  const std::pair<const char*, const char*> cases[] = {
      {R"({"offline": "yes"})", "'offline' must be true or false"},
      {R"({"endpoint": 5})", "'endpoint' must be a string"},
      {R"({"cache_dir": ["/a"]})", "'cache_dir' must be a path string"},
      {R"({"max_clients": -1})", "'max_clients' must be a non-negative integer"},
      {R"({"shutdown_grace_s": 1.5})", "'shutdown_grace_s' must be a non-negative integer"},
      {R"({"socket_mode": 660})", "'socket_mode' must be a string"},
      {R"({"download": {"chunk_size": "big"}})", "'download.chunk_size' must be a non-negative integer"},
      {R"({"download": 3})", "'download' must be an object"},
  };
  for (const auto& [json, expected] : cases) {
    CAPTURE(json);
    const auto config = load_file(dir, json);
    REQUIRE_FALSE(config.has_value());
    CHECK(config.error().code == Errc::invalid_request);
    CHECK(contains(config.error().message, expected));
  }
}

TEST_CASE("config: bad socket_mode") {
  const CleanEnv env;
  const TempDir dir;
  for (const char* mode : {"0999", "rw-rw----", "1777", "0660 ", "-1"}) {
    CAPTURE(mode);
    const auto json = std::string(R"({"socket_mode": ")") + mode + "\"}";
    const auto config = load_file(dir, json);
    REQUIRE_FALSE(config.has_value());
    CHECK(contains(config.error().message, "socket_mode"));
  }
}

TEST_CASE("config: download limits enforced") {
  const CleanEnv env;
  const TempDir dir;
  for (const char* json :
       {R"({"download": {"chunk_size": 65535}})", R"({"download": {"retry_attempts": 0}})",
        R"({"download": {"connections_per_file": 0}})", R"({"download": {"initial_connections": 0}})",
        R"({"download": {"max_connections_per_host": 0}})", R"({"download": {"max_parallel_files": 0}})"}) {
    CAPTURE(json);
    CHECK_FALSE(load_file(dir, json).has_value());
  }
}

TEST_CASE("config: count beyond int rejected") {
  const CleanEnv env;
  const TempDir dir;
  const auto config = load_file(dir, R"({"download": {"connections_per_file": 4294967297}})");
  CHECK_FALSE(config.has_value());
}

TEST_CASE("config: malformed files rejected") {
  const CleanEnv env;
  const TempDir dir;
  for (const char* json : {"{\"cache_dir\": ", ""}) {
    CAPTURE(json);
    const auto config = load_file(dir, json);
    REQUIRE_FALSE(config.has_value());
    CHECK(contains(config.error().message, "invalid JSON"));
  }
  for (const char* json : {"[]", "\"text\""}) {
    CAPTURE(json);
    const auto config = load_file(dir, json);
    REQUIRE_FALSE(config.has_value());
    CHECK(contains(config.error().message, "must hold a JSON object"));
  }
}

TEST_CASE("config: syntax error names its line") {
  const CleanEnv env;
  const TempDir dir;
  const auto config = load_file(dir, "{\n  \"offline\": true,\n}\n");
  REQUIRE_FALSE(config.has_value());
  CHECK(contains(config.error().message, "line 3"));
}

TEST_CASE("config: bad count names its key") {
  const CleanEnv env;
  const TempDir dir;
  const auto zero = load_file(dir, R"({"download": {"initial_connections": 0}})");
  REQUIRE_FALSE(zero.has_value());
  CHECK(contains(zero.error().message, "'download.initial_connections' must be at least 1, not 0"));

  const auto above = load_file(dir, R"({"download": {"connections_per_file": 8, "initial_connections": 16}})");
  REQUIRE_FALSE(above.has_value());
  CHECK(contains(above.error().message, "must not exceed 'download.connections_per_file' (8)"));

  // The default initial count only caps at a smaller connections_per_file.
  const auto small = load_file(dir, R"({"download": {"connections_per_file": 1}})");
  REQUIRE(small.has_value());
}

TEST_CASE("config: missing file rejected") {
  const CleanEnv env;
  const TempDir dir;
  CommandLine command_line;
  command_line.config_file = dir.path() / "absent.json";
  const auto config = load_config(command_line);
  REQUIRE_FALSE(config.has_value());
  CHECK(contains(config.error().message, "absent.json"));
  CHECK(contains(config.error().message, "--config"));
}

TEST_CASE("config: endpoint must be http") {
  const CleanEnv env;
  const TempDir dir;
  for (const char* endpoint : {"ftp://hub.test", "huggingface.co", "https://", "http://hub test"}) {
    CAPTURE(endpoint);
    const auto json = std::string(R"({"endpoint": ")") + endpoint + "\"}";
    const auto config = load_file(dir, json);
    REQUIRE_FALSE(config.has_value());
    CHECK(contains(config.error().message, "http"));
  }
}

TEST_CASE("config: unknown log level rejected") {
  const CleanEnv env;
  const TempDir dir;
  const auto config = load_file(dir, R"({"log_level": "verbose"})");
  REQUIRE_FALSE(config.has_value());
  CHECK(contains(config.error().message, "'verbose'"));
}

TEST_CASE("config: HF_ENDPOINT over file") {
  const CleanEnv env;
  const ScopedEnv endpoint("HF_ENDPOINT", "http://127.0.0.1:9000/");
  const TempDir dir;
  const auto config = load_file(dir, R"({"endpoint": "http://127.0.0.1:8000"})");
  REQUIRE(config.has_value());
  CHECK(config->endpoint == "http://127.0.0.1:9000");
}

TEST_CASE("config: empty HF_ENDPOINT ignored") {
  const CleanEnv env;
  const ScopedEnv endpoint("HF_ENDPOINT", "");
  const auto config = load_config(CommandLine{});
  REQUIRE(config.has_value());
  CHECK(config->endpoint == "https://huggingface.co");
}

TEST_CASE("config: command line over HF_ENDPOINT") {
  const CleanEnv env;
  const ScopedEnv endpoint("HF_ENDPOINT", "http://127.0.0.1:9000");
  CommandLine command_line;
  command_line.endpoint = "http://127.0.0.1:7000";
  const auto config = load_config(command_line);
  REQUIRE(config.has_value());
  CHECK(config->endpoint == "http://127.0.0.1:7000");
}

TEST_CASE("config: command line over file") {
  const CleanEnv env;
  const TempDir dir;
  const auto file = dir.path() / "timmd.json";
  write_file(file, R"({"cache_dir": "/srv/from-file", "log_level": "debug", "offline": false})");
  CommandLine command_line;
  command_line.config_file = file;
  command_line.cache_dir = "/srv/from-command-line";
  command_line.log_level = "warn";
  command_line.offline = true;
  const auto config = load_config(command_line);
  REQUIRE(config.has_value());
  CHECK(config->cache_dir == "/srv/from-command-line");
  CHECK(config->log_level == "warn");
  CHECK(config->offline);
}

TEST_CASE("config: token_file over config token") {
  const CleanEnv env;
  const TempDir dir;
  write_file(dir.path() / "token", "  hf_from_file \n");
  const auto json = R"({"token": "hf_from_config", "token_file": ")" + (dir.path() / "token").string() + "\"}";
  const auto config = load_file(dir, json);
  REQUIRE(config.has_value());
  CHECK(config->token == "hf_from_file");
  CHECK(config->token_source == "token_file");
}

TEST_CASE("config: HF_TOKEN over token_file") {
  const CleanEnv env;
  const ScopedEnv token("HF_TOKEN", " hf_from_env\n");
  const TempDir dir;
  write_file(dir.path() / "token", "hf_from_file\n");
  const auto json = R"({"token_file": ")" + (dir.path() / "token").string() + "\"}";
  const auto config = load_file(dir, json);
  REQUIRE(config.has_value());
  CHECK(config->token == "hf_from_env");
  CHECK(config->token_source == "HF_TOKEN");
}

TEST_CASE("config: empty HF_TOKEN ignored") {
  const CleanEnv env;
  const ScopedEnv token("HF_TOKEN", "");
  const TempDir dir;
  const auto config = load_file(dir, R"({"token": "hf_from_config"})");
  REQUIRE(config.has_value());
  CHECK(config->token == "hf_from_config");
  CHECK(config->token_source == "config");
}

TEST_CASE("config: unreadable token_file rejected") {
  const CleanEnv env;
  const TempDir dir;
  const auto json = R"({"token_file": ")" + (dir.path() / "absent-token").string() + "\"}";
  const auto config = load_file(dir, json);
  REQUIRE_FALSE(config.has_value());
  CHECK(contains(config.error().message, "absent-token"));
  CHECK(contains(config.error().message, "token_file"));
}

TEST_CASE("config: empty token_file rejected") {
  const CleanEnv env;
  const TempDir dir;
  write_file(dir.path() / "token", " \n");
  const auto json = R"({"token_file": ")" + (dir.path() / "token").string() + "\"}";
  const auto config = load_file(dir, json);
  REQUIRE_FALSE(config.has_value());
  CHECK(contains(config.error().message, "empty"));
}

TEST_CASE("config: token never in errors") {
  const CleanEnv env;
  const ScopedEnv token("HF_TOKEN", "hf_secret_value");
  const TempDir dir;
  const auto config = load_file(dir, R"({"token": "hf_secret_value", "log_level": "loud"})");
  REQUIRE_FALSE(config.has_value());
  CHECK_FALSE(contains(config.error().message, "hf_secret_value"));
  CHECK_FALSE(contains(config.error().details.dump(), "hf_secret_value"));
}

TEST_CASE("config: HF_HUB_OFFLINE truthy values") {
  for (const char* value : {"1", "ON", "yes", "True"}) {
    CAPTURE(value);
    const CleanEnv env;
    const ScopedEnv offline("HF_HUB_OFFLINE", value);
    const auto config = load_config(CommandLine{});
    REQUIRE(config.has_value());
    CHECK(config->offline);
  }
}

TEST_CASE("config: HF_HUB_OFFLINE falsy values") {
  for (const char* value : {"0", "", "off", "no"}) {
    CAPTURE(value);
    const CleanEnv env;
    const ScopedEnv offline("HF_HUB_OFFLINE", value);
    const auto config = load_config(CommandLine{});
    REQUIRE(config.has_value());
    CHECK_FALSE(config->offline);
  }
}

// The daemon's configuration: defaults, then the JSON file, then the environment, then the
// command line, each overriding the one before.
#pragma once

#include "proto/error.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace timmd::server {

struct DownloadConfig {
  // The largest chunk: the unit of resume and of one ranged GET. Smaller files get smaller
  // chunks (see chunk_size_for()), so that every connection has several to fetch.
  std::uint64_t chunk_size = 32ULL * 1024 * 1024;
  int connections_per_file = 8; // maximum; a file starts with initial_connections
  int initial_connections = 4;  // doubled while each doubling raises the throughput
  int max_connections = 32;     // across every download
  int max_connections_per_host = 16;
  int max_parallel_files = 4; // files of one pull fetched at once
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds stall_timeout{30};
  std::chrono::seconds file_deadline{0}; // 0: no limit for a whole file
  int retry_attempts = 6;
  std::chrono::milliseconds retry_base_delay{1000};
  std::chrono::milliseconds retry_max_delay{8000};
};

struct Config {
  std::filesystem::path cache_dir;
  std::filesystem::path socket_path;
  unsigned socket_mode = 0600;
  std::string endpoint = "https://huggingface.co";
  std::string token;                 // never logged; see token_source
  std::string token_source = "none"; // "HF_TOKEN", "token_file", "config" or "none"
  std::filesystem::path token_file;
  bool offline = false;
  std::string log_level = "info";
  DownloadConfig download;
  // The bundled timm registry (timm-registry.json, overrides.json), extra registry files loaded
  // after it, and user aliases (alias -> model name or repository).
  std::filesystem::path registry_dir;
  std::vector<std::filesystem::path> registry_files;
  nlohmann::json aliases = nlohmann::json::object();
  // Who may read, download and administer; parsed by AccessPolicy (null: the defaults).
  nlohmann::json access = nullptr;
  // Remap rule files (config/remap/*.json).
  std::filesystem::path remap_dir;
  // `open` reuses a branch or tag's commit recorded less than this long ago instead of asking
  // the Hub, so that warm opens cost no network round trip; `pull` always asks.
  std::chrono::seconds open_revision_ttl{60};
  // Quota of the cache: the size `gc` without --max-size shrinks it to, and the size a download
  // may not push it beyond (see auto_gc); 0 means no quota.
  std::uint64_t max_cache_bytes = 0;
  // Free space that a download must leave on the cache filesystem.
  std::uint64_t min_free_bytes = 128ULL * 1024 * 1024;
  // When a download would break the quota or the free-space floor, evict least recently used
  // blobs first instead of refusing it with `disk_full`.
  bool auto_gc = true;
  // Accept a cache directory on NFS, SMB, FUSE and the like, where only the user can guarantee
  // that a single daemon uses it.
  bool allow_network_cache = false;
  std::chrono::seconds shutdown_grace{10};
  std::chrono::seconds client_idle_timeout{600};
  std::chrono::seconds frame_timeout{30};
  std::size_t max_clients = 1024;
  // Benchmarks only: LFS downloads are published without hashing (command line only).
  bool debug_skip_verify = false;
};

// Command-line values; unset ones leave the configuration as it is.
struct CommandLine {
  std::optional<std::filesystem::path> config_file;
  std::optional<std::filesystem::path> cache_dir;
  std::optional<std::filesystem::path> socket_path;
  std::optional<std::string> endpoint;
  bool offline = false;
  std::optional<std::string> log_level;
  bool debug_skip_verify = false;
};

// Builds the configuration. A missing or malformed file, an unknown key (usually a typo), a
// value of the wrong type, an endpoint that is not an http(s) URL, or an unreadable token file
// is an `invalid_request` error naming the file and the key.
proto::Result<Config> load_config(const CommandLine& command_line);

// Per-user defaults when not root: $XDG_CACHE_HOME/timmd and $XDG_RUNTIME_DIR/timmd.sock;
// for root the system paths /var/cache/timmd and /run/timmd/timmd.sock.
std::filesystem::path default_cache_dir();
std::filesystem::path default_socket_path();

// The installed registry directory, or the source tree's config/registry when running from a
// build tree.
std::filesystem::path default_registry_dir();

// The installed remap rule directory, or the source tree's config/remap from a build tree.
std::filesystem::path default_remap_dir();

} // namespace timmd::server

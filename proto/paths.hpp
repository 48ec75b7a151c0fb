// Well-known paths shared by the daemon and its clients.
#pragma once

#include <filesystem>

namespace timmd::proto {

// The system daemon's socket (socket activation by systemd, group-readable).
inline const std::filesystem::path k_system_socket_path = "/run/timmd/timmd.sock";
inline const std::filesystem::path k_system_cache_dir = "/var/cache/timmd";

// $XDG_RUNTIME_DIR/timmd.sock, or /tmp/timmd-<uid>/timmd.sock when XDG_RUNTIME_DIR is unset.
std::filesystem::path user_socket_path();

// $XDG_CACHE_HOME/timmd, or ~/.cache/timmd.
std::filesystem::path user_cache_dir();

} // namespace timmd::proto

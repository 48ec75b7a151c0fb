// The daemon process: opens the cache, repairs it, listens on the socket, serves sessions, and
// shuts down in two phases on SIGTERM or SIGINT.
#pragma once

#include "daemon/server/config.hpp"

namespace timmd::server {

// Runs until a signal stops it. Returns the process exit status: 0 after a clean shutdown,
// 1 when start-up fails (the reason is logged).
int run_daemon(const Config& config);

} // namespace timmd::server

#include "proto/paths.hpp"

#include <cstdlib>
#include <string>

#include <pwd.h>
#include <unistd.h>

namespace timmd::proto {
namespace {

std::filesystem::path env_path(const char* name) {
  const char* value = std::getenv(name);
  // The XDG Base Directory specification requires relative values to be ignored.
  if (value == nullptr || value[0] != '/') {
    return {};
  }
  return value;
}

std::filesystem::path home_dir() {
  if (auto home = env_path("HOME"); !home.empty()) {
    return home;
  }
  if (const passwd* entry = getpwuid(getuid()); entry != nullptr && entry->pw_dir != nullptr) {
    return entry->pw_dir;
  }
  return "/";
}

} // namespace

std::filesystem::path user_socket_path() {
  if (auto runtime = env_path("XDG_RUNTIME_DIR"); !runtime.empty()) {
    return runtime / "timmd.sock";
  }
  return std::filesystem::path("/tmp") / ("timmd-" + std::to_string(getuid())) / "timmd.sock";
}

std::filesystem::path user_cache_dir() {
  if (auto cache = env_path("XDG_CACHE_HOME"); !cache.empty()) {
    return cache / "timmd";
  }
  return home_dir() / ".cache" / "timmd";
}

} // namespace timmd::proto

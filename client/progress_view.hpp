// Shows pull progress from the daemon's `progress` events: a redrawn bar per file on a
// terminal, or one plain line per file state change otherwise.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

namespace timmd::client {

class ProgressView {
public:
  // `out` is the stream progress goes to (stderr in timmctl); `terminal` selects bars.
  ProgressView(std::FILE* out, bool terminal);

  void update(const nlohmann::json& event);

  // Redraws the bars a last time (as complete when the pull succeeded) and leaves the cursor
  // below them.
  void finish(bool succeeded);

private:
  struct FileState {
    std::uint64_t size = 0;
    std::uint64_t done = 0;
    std::string state;
    double rate = 0; // bytes per second, smoothed
    std::uint64_t last_done = 0;
    std::chrono::steady_clock::time_point last_time;
  };

  void draw();
  std::string bar_line(const std::string& path, const FileState& file) const;

  std::FILE* m_out;
  bool m_terminal;
  std::map<std::string, FileState> m_files;
  std::size_t m_drawn_lines = 0;
};

// "1.5 MiB", "37 B": sizes for people.
std::string format_bytes(double bytes);

} // namespace timmd::client

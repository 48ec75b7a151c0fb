#include "client/progress_view.hpp"

#include <algorithm>
#include <cmath>

namespace timmd::client {
namespace {

constexpr int k_bar_width = 24;
constexpr std::size_t k_name_width = 28;

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    return "--";
  }
  const auto total = static_cast<long>(seconds + 0.5);
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof(text), "%ldh%02ldm", total / 3600, (total / 60) % 60);
  } else if (total >= 60) {
    std::snprintf(text, sizeof(text), "%ldm%02lds", total / 60, total % 60);
  } else {
    std::snprintf(text, sizeof(text), "%lds", total);
  }
  return text;
}

} // namespace

std::string format_bytes(double bytes) {
  static constexpr const char* k_units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), unit == 0 ? "%.0f %s" : "%.1f %s", bytes, k_units[unit]);
  return text;
}

ProgressView::ProgressView(std::FILE* out, bool terminal) : m_out(out), m_terminal(terminal) {}

void ProgressView::update(const nlohmann::json& event) {
  if (!event.contains("files") || !event["files"].is_array()) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();

  for (const auto& entry : event["files"]) {
    const auto path = entry.value("path", "");
    auto [it, inserted] = m_files.try_emplace(path);
    auto& file = it->second;
    const auto previous_state = file.state;
    file.size = entry.value("size", std::uint64_t{0});
    file.done = entry.value("done", std::uint64_t{0});
    file.state = entry.value("state", "");

    if (inserted) {
      file.last_time = now;
      file.last_done = file.done;
    } else {
      const double elapsed = std::chrono::duration<double>(now - file.last_time).count();
      if (elapsed >= 0.2) {
        const double instant = static_cast<double>(file.done - std::min(file.done, file.last_done)) / elapsed;
        file.rate = file.rate == 0 ? instant : 0.7 * file.rate + 0.3 * instant;
        file.last_time = now;
        file.last_done = file.done;
      }
    }

    if (!m_terminal && file.state != previous_state) {
      std::fprintf(m_out, "%-12s %s (%s)\n", file.state.c_str(), path.c_str(),
                   format_bytes(static_cast<double>(file.size)).c_str());
    }
  }
  if (m_terminal) {
    draw();
  }
}

std::string ProgressView::bar_line(const std::string& path, const FileState& file) const {
  const double fraction =
      file.size == 0 ? 1.0 : std::min(1.0, static_cast<double>(file.done) / static_cast<double>(file.size));
  const int filled = static_cast<int>(fraction * k_bar_width);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(k_bar_width, '.');

  std::string name = path.size() > k_name_width ? "..." + path.substr(path.size() - (k_name_width - 3)) : path;
  char line[256];
  const bool moving = (file.state == "downloading" || file.state == "hashing") && file.rate > 0;
  const double eta = moving ? static_cast<double>(file.size - std::min(file.size, file.done)) / file.rate : -1;
  std::snprintf(line, sizeof(line), "%-*s [%s] %10s / %-10s %11s  %-11s %s", static_cast<int>(k_name_width),
                name.c_str(), bar.c_str(), format_bytes(static_cast<double>(file.done)).c_str(),
                format_bytes(static_cast<double>(file.size)).c_str(),
                moving ? (format_bytes(file.rate) + "/s").c_str() : "",
                moving ? ("ETA " + format_duration(eta)).c_str() : "", file.state.c_str());
  return line;
}

void ProgressView::draw() {
  if (m_drawn_lines > 0) {
    std::fprintf(m_out, "\x1b[%zuA", m_drawn_lines);
  }
  for (const auto& [path, file] : m_files) {
    std::fprintf(m_out, "\x1b[2K\r%s\n", bar_line(path, file).c_str());
  }
  m_drawn_lines = m_files.size();
  std::fflush(m_out);
}

void ProgressView::finish(bool succeeded) {
  if (!m_terminal && succeeded) {
    // The last progress event can precede the final state of a file by up to 200 ms.
    for (auto& [path, file] : m_files) {
      if (file.state != "done" && file.state != "cached") {
        file.state = "done";
        std::fprintf(m_out, "%-12s %s (%s)\n", file.state.c_str(), path.c_str(),
                     format_bytes(static_cast<double>(file.size)).c_str());
      }
    }
  }
  if (m_terminal && !m_files.empty()) {
    for (auto& [path, file] : m_files) {
      if (succeeded && (file.state == "downloading" || file.state == "verifying" || file.state == "queued")) {
        file.done = file.size;
        file.state = "done";
      }
    }
    draw();
  }
  std::fflush(m_out);
}

} // namespace timmd::client

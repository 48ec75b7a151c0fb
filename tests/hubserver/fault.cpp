#include "tests/hubserver/fault.hpp"

#include "tests/hubserver/url.hpp"

#include <array>
#include <stdexcept>
#include <utility>

namespace timmd::testhub {

namespace {

constexpr std::array k_kind_names = {
    std::pair{FaultKind::close_after, "close_after"},
    std::pair{FaultKind::stall, "stall"},
    std::pair{FaultKind::ignore_range, "ignore_range"},
    std::pair{FaultKind::wrong_bytes, "wrong_bytes"},
    std::pair{FaultKind::length_mismatch, "length_mismatch"},
    std::pair{FaultKind::status, "status"},
    std::pair{FaultKind::drop_header, "drop_header"},
    std::pair{FaultKind::weak_etag, "weak_etag"},
    std::pair{FaultKind::unquoted_etag, "unquoted_etag"},
    std::pair{FaultKind::redirect_loop, "redirect_loop"},
    std::pair{FaultKind::change_etag, "change_etag"},
};

FaultKind parse_kind(const std::string& name) {
  for (const auto& [kind, kind_name] : k_kind_names) {
    if (name == kind_name) {
      return kind;
    }
  }
  throw std::invalid_argument("unknown fault kind \"" + name + "\"");
}

template <typename T>
void read_key(const nlohmann::json& json, const char* key, T& target) {
  if (!json.contains(key)) {
    return;
  }
  try {
    target = json.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw std::invalid_argument(std::string("invalid fault field \"") + key + "\": " + json.at(key).dump());
  }
}

template <typename T>
void read_optional_key(const nlohmann::json& json, const char* key, std::optional<T>& target) {
  if (json.contains(key) && !json.at(key).is_null()) {
    T value{};
    read_key(json, key, value);
    target = value;
  }
}

bool matches(const FaultMatch& match, std::string_view listener, std::string_view method, std::string_view raw_path,
             std::string_view decoded_path) {
  return (match.listener == "any" || match.listener == listener) && (match.method == "any" || match.method == method) &&
         (glob_match(match.path, raw_path) || glob_match(match.path, decoded_path));
}

} // namespace

std::string_view to_string(FaultKind kind) {
  for (const auto& [candidate, name] : k_kind_names) {
    if (candidate == kind) {
      return name;
    }
  }
  return "unknown";
}

Fault Fault::from_json(const nlohmann::json& json) {
  if (!json.is_object()) {
    throw std::invalid_argument("a fault must be a JSON object");
  }
  if (!json.contains("kind") || !json.at("kind").is_string()) {
    throw std::invalid_argument("missing fault field \"kind\"");
  }

  Fault fault;
  fault.kind = parse_kind(json.at("kind").get<std::string>());
  if (json.contains("match")) {
    const auto& match = json.at("match");
    if (!match.is_object()) {
      throw std::invalid_argument("fault field \"match\" must be an object");
    }
    read_key(match, "listener", fault.match.listener);
    read_key(match, "method", fault.match.method);
    read_key(match, "path", fault.match.path);
  }
  if (fault.match.listener != "any" && fault.match.listener != "api" && fault.match.listener != "cdn") {
    throw std::invalid_argument("invalid match.listener \"" + fault.match.listener + "\": expected api, cdn or any");
  }
  read_key(json, "count", fault.count);
  read_key(json, "bytes", fault.bytes);
  read_key(json, "after_bytes", fault.after_bytes);
  read_key(json, "ms", fault.ms);
  read_key(json, "delta", fault.delta);
  read_key(json, "status", fault.status);
  read_optional_key(json, "retry_after", fault.retry_after);
  read_optional_key(json, "ratelimit_reset", fault.ratelimit_reset);
  read_key(json, "error_code", fault.error_code);
  read_key(json, "message", fault.message);
  read_key(json, "header", fault.header);
  read_key(json, "etag", fault.etag);

  if (fault.kind == FaultKind::status && (fault.status < 100 || fault.status > 599)) {
    throw std::invalid_argument("invalid fault status " + std::to_string(fault.status));
  }
  if (fault.kind == FaultKind::drop_header && fault.header.empty()) {
    throw std::invalid_argument("fault kind drop_header needs field \"header\"");
  }
  if (fault.kind == FaultKind::change_etag && fault.etag.empty()) {
    throw std::invalid_argument("fault kind change_etag needs field \"etag\"");
  }
  return fault;
}

nlohmann::json Fault::to_json() const {
  nlohmann::json json = {
      {"match", {{"listener", match.listener}, {"method", match.method}, {"path", match.path}}},
      {"count", count},
      {"kind", to_string(kind)},
      {"bytes", bytes},
      {"after_bytes", after_bytes},
      {"ms", ms},
      {"delta", delta},
      {"status", status},
      {"error_code", error_code},
      {"message", message},
      {"header", header},
      {"etag", etag},
  };
  json["retry_after"] = retry_after ? nlohmann::json(*retry_after) : nlohmann::json();
  json["ratelimit_reset"] = ratelimit_reset ? nlohmann::json(*ratelimit_reset) : nlohmann::json();
  return json;
}

void FaultList::add(Fault fault) {
  const std::lock_guard lock(m_mutex);
  m_entries.push_back({std::move(fault), 0});
}

void FaultList::clear() {
  const std::lock_guard lock(m_mutex);
  m_entries.clear();
}

std::vector<Fault> FaultList::take_matching(std::string_view listener, std::string_view method,
                                            std::string_view raw_path, std::string_view decoded_path) {
  const std::lock_guard lock(m_mutex);
  std::vector<Fault> applied;
  for (auto& entry : m_entries) {
    const bool exhausted = entry.fault.count != 0 && entry.used >= entry.fault.count;
    if (!exhausted && matches(entry.fault.match, listener, method, raw_path, decoded_path)) {
      ++entry.used;
      applied.push_back(entry.fault);
    }
  }
  return applied;
}

} // namespace timmd::testhub

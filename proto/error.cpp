#include "proto/error.hpp"

#include <array>
#include <utility>

namespace timmd::proto {
namespace {

struct ErrcName {
  Errc code;
  std::string_view name;
  std::string_view description;
};

constexpr std::array k_names = {
    ErrcName{Errc::invalid_request, "invalid_request", "the request is malformed or not allowed"},
    ErrcName{Errc::not_found, "not_found", "the model, repository or file does not exist"},
    ErrcName{Errc::revision_not_found, "revision_not_found", "the revision does not exist"},
    ErrcName{Errc::unauthorized, "unauthorized", "the Hub rejected the credentials"},
    ErrcName{Errc::gated, "gated", "the repository is gated"},
    ErrcName{Errc::permission_denied, "permission_denied", "the access policy rejects the request"},
    ErrcName{Errc::upstream_unavailable, "upstream_unavailable", "the Hub could not be reached"},
    ErrcName{Errc::integrity_error, "integrity_error", "downloaded bytes do not match their hash"},
    ErrcName{Errc::unsupported_format, "unsupported_format", "the file format is not supported"},
    ErrcName{Errc::invalid_checkpoint, "invalid_checkpoint", "the checkpoint file is malformed"},
    ErrcName{Errc::disk_full, "disk_full", "no space left in the cache"},
    ErrcName{Errc::quota_exceeded, "quota_exceeded", "the cache quota would be exceeded"},
    ErrcName{Errc::busy, "busy", "the daemon is busy or shutting down"},
    ErrcName{Errc::timeout, "timeout", "an operation timed out"},
    ErrcName{Errc::internal, "internal", "internal error"},
};

const ErrcName* find(Errc code) {
  for (const auto& entry : k_names) {
    if (entry.code == code) {
      return &entry;
    }
  }
  return nullptr;
}

class Category final : public boost::system::error_category {
public:
  const char* name() const noexcept override { return "timmd"; }

  std::string message(int value) const override {
    const auto* entry = find(static_cast<Errc>(value));
    return entry ? std::string(entry->description) : "unknown timmd error " + std::to_string(value);
  }
};

} // namespace

std::string_view to_string(Errc code) {
  const auto* entry = find(code);
  return entry ? entry->name : "internal";
}

std::optional<Errc> errc_from_string(std::string_view name) {
  for (const auto& entry : k_names) {
    if (entry.name == name) {
      return entry.code;
    }
  }
  return std::nullopt;
}

const boost::system::error_category& timmd_category() {
  static const Category category;
  return category;
}

boost::system::error_code make_error_code(Errc code) {
  return {static_cast<int>(code), timmd_category()};
}

nlohmann::json Error::to_json() const {
  return {{"code", to_string(code)}, {"message", message}, {"details", details}};
}

Error Error::from_json(const nlohmann::json& j) {
  Error error;
  if (!j.is_object() || !j.contains("code") || !j["code"].is_string()) {
    error.message = "malformed error object from the daemon: " + j.dump();
    return error;
  }
  const auto code = errc_from_string(j["code"].get<std::string>());
  error.code = code.value_or(Errc::internal);
  if (j.contains("message") && j["message"].is_string()) {
    error.message = j["message"].get<std::string>();
  }
  if (!code) {
    error.message = "unknown error code '" + j["code"].get<std::string>() + "': " + error.message;
  }
  if (j.contains("details") && j["details"].is_object()) {
    error.details = j["details"];
  }
  return error;
}

Error make_error(Errc code, std::string message, nlohmann::json details) {
  return Error{code, std::move(message), std::move(details)};
}

std::ostream& operator<<(std::ostream& os, const Error& error) {
  return os << to_string(error.code) << ": " << error.message;
}

ErrorException::ErrorException(Error error)
    : std::runtime_error(std::string(to_string(error.code)) + ": " + error.message), m_error(std::move(error)) {}

void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw ErrorException(e);
}

} // namespace timmd::proto

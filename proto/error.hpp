// Error codes shared by the daemon, the client and the wire protocol.
#pragma once

#include <nlohmann/json.hpp>

#include <boost/assert/source_location.hpp>
#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace timmd::proto {

// Error codes of the protocol. Their wire names (to_string) are stable: clients match on them.
enum class Errc {
  invalid_request = 1,
  not_found,
  revision_not_found,
  unauthorized,
  gated,
  permission_denied,
  upstream_unavailable,
  integrity_error,
  unsupported_format,
  invalid_checkpoint,
  disk_full,
  quota_exceeded,
  busy,
  timeout,
  internal,
};

inline constexpr Errc k_all_errcs[] = {
    Errc::invalid_request,
    Errc::not_found,
    Errc::revision_not_found,
    Errc::unauthorized,
    Errc::gated,
    Errc::permission_denied,
    Errc::upstream_unavailable,
    Errc::integrity_error,
    Errc::unsupported_format,
    Errc::invalid_checkpoint,
    Errc::disk_full,
    Errc::quota_exceeded,
    Errc::busy,
    Errc::timeout,
    Errc::internal,
};

// Wire name of a code, e.g. "revision_not_found".
std::string_view to_string(Errc code);

// Inverse of to_string; nullopt for a name this version does not know.
std::optional<Errc> errc_from_string(std::string_view name);

const boost::system::error_category& timmd_category();
boost::system::error_code make_error_code(Errc code);

// An expected failure: a code for programs, a message for people (what failed, on which value,
// and what to do next), and optional structured details sent on the wire.
struct Error {
  Errc code = Errc::internal;
  std::string message;
  nlohmann::json details = nlohmann::json::object();

  nlohmann::json to_json() const;
  // Parses the `error` object of a response; a malformed object becomes an `internal` error.
  static Error from_json(const nlohmann::json& j);
};

Error make_error(Errc code, std::string message, nlohmann::json details = nlohmann::json::object());

// Prints "code: message"; lets test frameworks and logs show a failed Result.
std::ostream& operator<<(std::ostream& os, const Error& error);

// Thrown only by Result<T>::value() on an error; caught at the top of a request or process.
class ErrorException : public std::runtime_error {
public:
  explicit ErrorException(Error error);
  const Error& error() const noexcept { return m_error; }

private:
  Error m_error;
};

[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

template <class T> using Result = boost::system::result<T, Error>;

} // namespace timmd::proto

template <> struct boost::system::is_error_code_enum<timmd::proto::Errc> : std::true_type {};

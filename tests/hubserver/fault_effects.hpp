// What each fault does to a request or to a response's status line and headers. The body
// faults (close_after, stall, wrong_bytes, the length_mismatch close) act while the body is
// sent, in connection.cpp.
#pragma once

#include "tests/hubserver/fault.hpp"
#include "tests/hubserver/http_message.hpp"

#include <optional>
#include <vector>

namespace timmd::testhub {

// Returns the response that replaces routing (status and redirect_loop faults), or nullopt.
std::optional<HttpResponse> replacement_response(const HttpRequest& request, const std::vector<Fault>& faults);

// Removes the Range header when an ignore_range fault applies.
void apply_request_faults(HttpRequest& request, const std::vector<Fault>& faults);

// Applies drop_header, weak_etag, unquoted_etag and change_etag.
void apply_header_faults(HttpResponse& response, const std::vector<Fault>& faults);

} // namespace timmd::testhub

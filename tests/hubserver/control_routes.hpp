// The /_testhub/ routes on the API listener, through which scripts read the request log and
// add faults. They are not recorded and no fault applies to them.
#pragma once

#include "tests/hubserver/fault.hpp"
#include "tests/hubserver/http_message.hpp"
#include "tests/hubserver/request_log.hpp"

#include <optional>

namespace timmd::testhub {

// Handles GET and DELETE /_testhub/requests and POST and DELETE /_testhub/faults (the POST body
// is one fault in its JSON form). Returns nullopt when the path is not under /_testhub/.
std::optional<HttpResponse> handle_control_request(const HttpRequest& request, FaultList& faults, RequestLog& log);

} // namespace timmd::testhub

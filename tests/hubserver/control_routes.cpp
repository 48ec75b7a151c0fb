#include "tests/hubserver/control_routes.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace timmd::testhub {

std::optional<HttpResponse> handle_control_request(const HttpRequest& request, FaultList& faults, RequestLog& log) {
  if (!request.raw_path.starts_with("/_testhub/")) {
    return std::nullopt;
  }

  if (request.raw_path == "/_testhub/requests" && request.method == "GET") {
    auto records = nlohmann::json::array();
    for (const auto& record : log.records()) {
      records.push_back(record.to_json());
    }
    return json_response(records.dump());
  }
  if (request.raw_path == "/_testhub/requests" && request.method == "DELETE") {
    log.clear();
    return json_response("{}");
  }
  if (request.raw_path == "/_testhub/faults" && request.method == "POST") {
    try {
      auto fault = Fault::from_json(nlohmann::json::parse(request.body));
      spdlog::info("added fault {}", fault.to_json().dump());
      faults.add(std::move(fault));
    } catch (const nlohmann::json::exception& error) {
      return error_response(400, "", std::string("invalid fault JSON: ") + error.what());
    } catch (const std::invalid_argument& error) {
      return error_response(400, "", error.what());
    }
    return json_response("{}");
  }
  if (request.raw_path == "/_testhub/faults" && request.method == "DELETE") {
    faults.clear();
    return json_response("{}");
  }
  return error_response(404, "", "unknown control route " + request.method + " " + request.raw_path);
}

} // namespace timmd::testhub

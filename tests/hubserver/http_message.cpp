#include "tests/hubserver/http_message.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace timmd::testhub {

bool iequals(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) {
      return value;
    }
  }
  return {};
}

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) {
      return value;
    }
  }
  return std::nullopt;
}

void HttpResponse::set_header(std::string_view name, std::string value) {
  remove_header(name);
  headers.emplace_back(std::string(name), std::move(value));
}

void HttpResponse::remove_header(std::string_view name) {
  std::erase_if(headers, [&](const auto& entry) { return iequals(entry.first, name); });
}

HttpResponse error_response(int status, std::string_view error_code, std::string_view message) {
  HttpResponse response;
  response.status = status;
  if (!error_code.empty()) {
    response.set_header("X-Error-Code", std::string(error_code));
  }
  response.set_header("X-Error-Message", std::string(message));
  response.set_header("Content-Type", "application/json; charset=utf-8");
  response.text = nlohmann::json{{"error", message}}.dump();
  return response;
}

HttpResponse json_response(std::string body) {
  HttpResponse response;
  response.set_header("Content-Type", "application/json; charset=utf-8");
  response.text = std::move(body);
  return response;
}

} // namespace timmd::testhub

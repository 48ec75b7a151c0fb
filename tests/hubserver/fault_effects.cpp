#include "tests/hubserver/fault_effects.hpp"

#include <boost/beast/http/status.hpp>

#include <algorithm>

namespace timmd::testhub {

namespace {

std::string strip_etag(std::string etag) {
  if (etag.starts_with("W/")) {
    etag.erase(0, 2);
  }
  std::erase(etag, '"');
  return etag;
}

// Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for "\"" + text + "\"".
std::string quote(const std::string& text) {
  std::string quoted;
  quoted.reserve(text.size() + 2);
  quoted.push_back('"');
  quoted.append(text);
  quoted.push_back('"');
  return quoted;
}

template <typename Transform>
void rewrite_etags(HttpResponse& response, Transform transform) {
  for (const auto* name : {"ETag", "X-Linked-Etag"}) {
    if (const auto value = response.header(name)) {
      response.set_header(name, transform(strip_etag(*value)));
    }
  }
}

HttpResponse status_response(const Fault& fault) {
  const auto reason = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(fault.status));
  const std::string message = fault.message.empty() ? std::string(reason) : fault.message;
  auto response = error_response(fault.status, fault.error_code, message);
  if (fault.retry_after) {
    response.set_header("Retry-After", std::to_string(*fault.retry_after));
  }
  if (fault.ratelimit_reset) {
    // The header pair huggingface.co sends on resolve calls. huggingface_hub sleeps t+1 s when r is 0.
    response.set_header("RateLimit", "\"resolvers\";r=0;t=" + std::to_string(*fault.ratelimit_reset));
    response.set_header("RateLimit-Policy", "\"fixed window\";\"resolvers\";q=3000;w=300");
  }
  return response;
}

} // namespace

std::optional<HttpResponse> replacement_response(const HttpRequest& request, const std::vector<Fault>& faults) {
  for (const auto& fault : faults) {
    if (fault.kind == FaultKind::status) {
      auto response = status_response(fault);
      return response;
    }
    if (fault.kind == FaultKind::redirect_loop) {
      HttpResponse response;
      response.status = 307;
      response.set_header("Location", request.target);
      response.set_header("Content-Type", "text/plain; charset=utf-8");
      response.text = "Temporary Redirect. Redirecting to " + request.target;
      return response;
    }
  }
  return std::nullopt;
}

void apply_request_faults(HttpRequest& request, const std::vector<Fault>& faults) {
  const bool ignore_range =
      std::ranges::any_of(faults, [](const Fault& fault) { return fault.kind == FaultKind::ignore_range; });
  if (ignore_range) {
    std::erase_if(request.headers, [](const auto& header) { return iequals(header.first, "Range"); });
  }
}

void apply_header_faults(HttpResponse& response, const std::vector<Fault>& faults) {
  for (const auto& fault : faults) {
    switch (fault.kind) {
      case FaultKind::drop_header:
        response.remove_header(fault.header);
        break;
      case FaultKind::weak_etag:
        rewrite_etags(response, [](const std::string& etag) { return "W/" + quote(etag); });
        break;
      case FaultKind::unquoted_etag:
        rewrite_etags(response, [](const std::string& etag) { return etag; });
        break;
      case FaultKind::change_etag:
        rewrite_etags(response, [&](const std::string&) { return quote(strip_etag(fault.etag)); });
        break;
      default:
        break;
    }
  }
}

} // namespace timmd::testhub

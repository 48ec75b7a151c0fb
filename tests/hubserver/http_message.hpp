// The request and response shapes the router works on, free of any socket code.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace timmd::testhub {

struct HttpRequest {
  std::string listener; // "api" or "cdn"
  std::string method;
  std::string target;   // path and query as received
  std::string raw_path; // target up to '?', still percent-encoded
  std::string query;    // target after '?'
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Returns the first header named `name`, compared without case, or an empty string.
  std::string header(std::string_view name) const;
};

// A byte range of a file on disk, sent as the response body.
struct FileSlice {
  std::filesystem::path path;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers; // sent in this order
  std::string text;               // the body, unless `file` is set
  std::optional<FileSlice> file;  // the body, read from disk while it is sent
  bool head = false;              // send the headers only, declaring the body's length

  std::uint64_t body_length() const { return file ? file->length : text.size(); }

  // Returns the first header named `name` (without case), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
  // Replaces every header named `name` by one with `value`, or appends it.
  void set_header(std::string_view name, std::string value);
  void remove_header(std::string_view name);
};

// Returns true when `a` and `b` are equal ignoring ASCII case.
bool iequals(std::string_view a, std::string_view b);

// Returns an error response as the Hub sends it: X-Error-Code (when not empty),
// X-Error-Message and a JSON body {"error": message}.
HttpResponse error_response(int status, std::string_view error_code, std::string_view message);

// Returns a 200 with a JSON body.
HttpResponse json_response(std::string body);

} // namespace timmd::testhub

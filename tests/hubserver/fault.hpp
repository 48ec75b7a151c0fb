// Faults that tests inject into matching requests.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace timmd::testhub {

enum class FaultKind {
  close_after,     // full headers, then close after `bytes` body bytes
  stall,           // pause `ms` milliseconds after `after_bytes` body bytes (0: before the status line)
  ignore_range,    // respond 200 with the full body even when Range was sent
  wrong_bytes,     // same length, some bytes flipped
  length_mismatch, // declare Content-Length = real + `delta`, send the real body, then close
  status,          // respond with `status` instead, with optional Retry-After, RateLimit and error headers
  drop_header,     // remove response header `header`
  weak_etag,       // send ETag and X-Linked-Etag as W/"..."
  unquoted_etag,   // send ETag and X-Linked-Etag without quotes
  redirect_loop,   // a relative 307 to the request's own path
  change_etag,     // report `etag` in ETag and X-Linked-Etag, as if the file changed upstream
};

// Returns the JSON name of `kind`, e.g. "close_after".
std::string_view to_string(FaultKind kind);

struct FaultMatch {
  std::string listener = "any"; // "api", "cdn" or "any"
  std::string method = "any";   // "GET", "HEAD", ... or "any"
  std::string path = "*";       // glob on the URL path, raw or percent-decoded; `*` crosses '/'
};

// One fault. JSON form, every key but "kind" optional:
//   {"match": {"listener": "cdn", "method": "GET", "path": "*/model.safetensors"}, "count": 1,
//    "kind": "close_after", "bytes": 1000}
// with the parameters named as the fields below.
struct Fault {
  FaultMatch match;
  std::uint32_t count = 1; // apply to the next `count` matching requests; 0 applies to all
  FaultKind kind = FaultKind::status;

  std::uint64_t bytes = 0;       // close_after
  std::uint64_t after_bytes = 0; // stall
  std::uint64_t ms = 0;          // stall
  std::int64_t delta = 0;        // length_mismatch
  int status = 500;              // status
  std::optional<std::uint64_t> retry_after;     // status: Retry-After seconds
  std::optional<std::uint64_t> ratelimit_reset; // status: RateLimit "resolvers";r=0;t=N
  std::string error_code;        // status: X-Error-Code
  std::string message;           // status: X-Error-Message and the JSON error
  std::string header;            // drop_header
  std::string etag;              // change_etag, without quotes

  // Parses the JSON form. Throws std::invalid_argument naming the invalid key.
  static Fault from_json(const nlohmann::json& json);
  nlohmann::json to_json() const;
};

// The faults in effect, thread-safe. Every matching fault applies to a request, in the order
// they were added, and each use counts against its `count`.
class FaultList {
 public:
  void add(Fault fault);
  void clear();

  // Returns the faults that apply to this request and consumes one use of each.
  std::vector<Fault> take_matching(std::string_view listener, std::string_view method, std::string_view raw_path,
                                   std::string_view decoded_path);

 private:
  struct Entry {
    Fault fault;
    std::uint32_t used = 0;
  };

  std::mutex m_mutex;
  std::vector<Entry> m_entries;
};

} // namespace timmd::testhub

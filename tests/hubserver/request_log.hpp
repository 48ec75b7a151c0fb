// The record of every request the server handled, for tests that count calls.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace timmd::testhub {

struct RequestRecord {
  std::string listener; // "api" or "cdn"
  std::string method;
  std::string target;   // as received: path and query, still percent-encoded
  std::string path;     // percent-decoded path
  std::string query;    // raw query string, without '?'
  std::string range;
  std::string authorization;
  std::string accept_encoding;
  std::string user_agent;
  int status = 0;
  std::uint64_t body_bytes = 0; // body bytes handed to the socket
  std::string accept;
  std::string trace_id; // X-Amzn-Trace-Id, which huggingface_hub adds to every request

  nlohmann::json to_json() const;
};

// Thread-safe. A record is added before the response is written and its byte count is
// raised before each body write, so a client that has read a response always finds it here.
// NOTE: records stay until cleared, so a long benchmark run grows this log by one record per
// request unless it calls DELETE /_testhub/requests.
class RequestLog {
 public:
  using Id = std::uint64_t;

  Id add(RequestRecord record);
  void add_body_bytes(Id id, std::uint64_t count);
  // Lowers the byte count of `id` by `count`, for bytes that were counted but not sent.
  void remove_body_bytes(Id id, std::uint64_t count);

  std::vector<RequestRecord> records() const;
  void clear();

 private:
  RequestRecord* find(Id id);

  mutable std::mutex m_mutex;
  std::vector<std::pair<Id, RequestRecord>> m_records;
  Id m_next_id = 1;
};

} // namespace timmd::testhub

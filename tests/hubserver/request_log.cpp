#include "tests/hubserver/request_log.hpp"

#include <algorithm>

namespace timmd::testhub {

nlohmann::json RequestRecord::to_json() const {
  return {
      {"listener", listener},
      {"method", method},
      {"target", target},
      {"path", path},
      {"query", query},
      {"range", range},
      {"authorization", authorization},
      {"accept_encoding", accept_encoding},
      {"user_agent", user_agent},
      {"status", status},
      {"body_bytes", body_bytes},
      {"accept", accept},
      {"trace_id", trace_id},
  };
}

RequestLog::Id RequestLog::add(RequestRecord record) {
  const std::lock_guard lock(m_mutex);
  const auto id = m_next_id++;
  m_records.emplace_back(id, std::move(record));
  return id;
}

void RequestLog::add_body_bytes(Id id, std::uint64_t count) {
  const std::lock_guard lock(m_mutex);
  if (auto* record = find(id)) {
    record->body_bytes += count;
  }
}

void RequestLog::remove_body_bytes(Id id, std::uint64_t count) {
  const std::lock_guard lock(m_mutex);
  if (auto* record = find(id)) {
    record->body_bytes -= std::min(count, record->body_bytes);
  }
}

std::vector<RequestRecord> RequestLog::records() const {
  const std::lock_guard lock(m_mutex);
  std::vector<RequestRecord> copy;
  copy.reserve(m_records.size());
  for (const auto& [id, record] : m_records) {
    copy.push_back(record);
  }
  return copy;
}

void RequestLog::clear() {
  const std::lock_guard lock(m_mutex);
  m_records.clear();
}

RequestRecord* RequestLog::find(Id id) {
  // Updates concern requests in flight, which are at the end, so search from there.
  const auto found = std::find_if(m_records.rbegin(), m_records.rend(), [&](const auto& entry) { return entry.first == id; });
  return found == m_records.rend() ? nullptr : &found->second;
}

} // namespace timmd::testhub

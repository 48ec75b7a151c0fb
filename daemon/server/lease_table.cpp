#include "daemon/server/lease_table.hpp"

#include <utility>

namespace timmd::server {

Lease::Lease(std::weak_ptr<LeaseTable*> table, std::string sha256) : m_table(std::move(table)), m_sha256(std::move(sha256)) {}

Lease::Lease(Lease&& other) noexcept : m_table(std::move(other.m_table)), m_sha256(std::move(other.m_sha256)) {
  other.m_table.reset();
}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    m_table = std::move(other.m_table);
    m_sha256 = std::move(other.m_sha256);
    other.m_table.reset();
  }
  return *this;
}

Lease::~Lease() {
  release();
}

void Lease::release() {
  if (auto table = m_table.lock()) {
    (*table)->release(m_sha256);
  }
  m_table.reset();
}

LeaseTable::LeaseTable() : m_self(std::make_shared<LeaseTable*>(this)) {}

Lease LeaseTable::acquire(const std::string& name) {
  ++m_counts[name];
  ++m_total;
  return Lease(m_self, name);
}

void LeaseTable::release(const std::string& sha256) {
  const auto found = m_counts.find(sha256);
  if (found == m_counts.end()) {
    return;
  }
  --m_total;
  if (--found->second == 0) {
    m_counts.erase(found);
  }
}

} // namespace timmd::server

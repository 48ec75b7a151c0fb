#include "daemon/hub/connection_limits.hpp"

#include "daemon/hub/hub_url.hpp"

#include <algorithm>
#include <utility>

namespace asio = boost::asio;

namespace timmd::hub {

ConnectionLimits::ConnectionLimits(asio::any_io_executor executor, int total_limit, int per_host_limit)
    : m_executor(executor), m_per_host_limit(std::max(per_host_limit, 1)), m_total(std::move(executor), total_limit) {}

std::string ConnectionLimits::host_key(const std::string& url) {
  const auto origin = parse_origin(url);
  return origin ? origin->scheme + "://" + origin->host + ":" + origin->port : std::string();
}

asio::awaitable<ConnectionLimits::Permits> ConnectionLimits::acquire(const std::string& url) {
  auto& slot = m_hosts[host_key(url)];
  if (!slot) {
    slot = std::make_unique<ConnectionLimiter>(m_executor, m_per_host_limit);
  }
  auto& host = *slot;

  // Cancellation while waiting for the global permit destroys host_permit, which returns it.
  auto host_permit = co_await host.acquire();
  auto total_permit = co_await m_total.acquire();
  co_return Permits{std::move(host_permit), std::move(total_permit)};
}

int ConnectionLimits::host_in_use(const std::string& url) const {
  const auto found = m_hosts.find(host_key(url));
  return found == m_hosts.end() ? 0 : found->second->in_use();
}

} // namespace timmd::hub

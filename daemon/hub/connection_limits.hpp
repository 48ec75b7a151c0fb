// The connection budget of every download: one limit across all hosts and one per host. A pull
// of several large files from one CDN host stays within the per-host limit even when the global
// limit, which also covers other pulls and mirrors, would allow more.
//
// Thread safety: like ConnectionLimiter, use from the CurlMulti's executor thread only.
#pragma once

#include "daemon/hub/connection_limiter.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <map>
#include <memory>
#include <string>

namespace timmd::hub {

class ConnectionLimits {
public:
  // Both permits of one connection. Member order makes the global permit go back first.
  struct Permits {
    ConnectionLimiter::Permit host;
    ConnectionLimiter::Permit total;
  };

  ConnectionLimits(boost::asio::any_io_executor executor, int total_limit, int per_host_limit);

  // Waits for a permit of the host of `url` (scheme, host and port), then for a global one, so
  // that a connection waiting for a busy host holds no global permit that another host could
  // use. A URL without an http(s) origin counts against the host "" (one shared limit).
  boost::asio::awaitable<Permits> acquire(const std::string& url);

  int total_in_use() const noexcept { return m_total.in_use(); }
  int host_in_use(const std::string& url) const;

private:
  static std::string host_key(const std::string& url);

  boost::asio::any_io_executor m_executor;
  int m_per_host_limit;
  ConnectionLimiter m_total;
  // Hosts are few (the Hub and its CDNs), so the map keeps every host it has seen.
  std::map<std::string, std::unique_ptr<ConnectionLimiter>> m_hosts;
};

} // namespace timmd::hub

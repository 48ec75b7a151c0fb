#include "daemon/hub/connection_limiter.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>

namespace asio = boost::asio;

namespace timmd::hub {

ConnectionLimiter::Permit& ConnectionLimiter::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    if (m_owner != nullptr) {
      m_owner->release();
    }
    m_owner = std::exchange(other.m_owner, nullptr);
  }
  return *this;
}

ConnectionLimiter::Permit::~Permit() {
  if (m_owner != nullptr) {
    m_owner->release();
  }
}

ConnectionLimiter::ConnectionLimiter(asio::any_io_executor executor, int limit)
    : m_executor(std::move(executor)), m_limit(std::max(limit, 1)) {}

asio::awaitable<ConnectionLimiter::Permit> ConnectionLimiter::acquire() {
  if (m_in_use < m_limit && m_waiters.empty()) {
    ++m_in_use;
    co_return Permit(this);
  }

  auto waiter = std::make_shared<Waiter>(m_executor);
  m_waiters.push_back(waiter);
  while (!waiter->granted) {
    waiter->wake.expires_at(asio::steady_timer::time_point::max());
    co_await waiter->wake.async_wait(asio::as_tuple(asio::use_awaitable));
    const auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() == asio::cancellation_type::none) {
      continue;
    }
    if (waiter->granted) {
      // The permit arrived just before the cancellation: hand it on instead of losing it.
      release();
    } else {
      std::erase(m_waiters, waiter);
    }
    throw boost::system::system_error(asio::error::operation_aborted);
  }
  // release() counted the permit for us when it granted it.
  co_return Permit(this);
}

void ConnectionLimiter::release() {
  if (m_waiters.empty()) {
    --m_in_use;
    return;
  }
  auto waiter = m_waiters.front();
  m_waiters.pop_front();
  waiter->granted = true;
  waiter->wake.cancel();
}

} // namespace timmd::hub

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
  while (m_in_use >= m_limit) {
    auto waiter = std::make_shared<asio::steady_timer>(m_executor, asio::steady_timer::time_point::max());
    m_waiters.push_back(waiter);
    auto [ec] = co_await waiter->async_wait(asio::as_tuple(asio::use_awaitable));
    std::erase(m_waiters, waiter);
    if (ec != asio::error::operation_aborted) {
      continue;
    }
    // Woken either by release() or by the caller's cancellation; only the first may go on.
    const auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) {
      throw boost::system::system_error(asio::error::operation_aborted);
    }
  }
  ++m_in_use;
  co_return Permit(this);
}

void ConnectionLimiter::release() {
  --m_in_use;
  if (!m_waiters.empty()) {
    auto waiter = m_waiters.front();
    m_waiters.pop_front();
    waiter->cancel();
  }
}

} // namespace timmd::hub

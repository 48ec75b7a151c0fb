// A counting semaphore for coroutines on one executor thread: bounds the number of HTTP
// connections open at once across every download.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <memory>

namespace timmd::hub {

class ConnectionLimiter {
public:
  class Permit {
  public:
    Permit() = default;
    explicit Permit(ConnectionLimiter* owner) : m_owner(owner) {}
    Permit(Permit&& other) noexcept : m_owner(std::exchange(other.m_owner, nullptr)) {}
    Permit& operator=(Permit&& other) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit();

  private:
    ConnectionLimiter* m_owner = nullptr;
  };

  ConnectionLimiter(boost::asio::any_io_executor executor, int limit);

  // Waits until fewer than `limit` permits are out. Cancellation of the caller propagates.
  boost::asio::awaitable<Permit> acquire();

  int in_use() const noexcept { return m_in_use; }

private:
  void release();

  boost::asio::any_io_executor m_executor;
  int m_limit;
  int m_in_use = 0;
  std::deque<std::shared_ptr<boost::asio::steady_timer>> m_waiters;
};

} // namespace timmd::hub

// A counting semaphore for coroutines on one executor thread: bounds the number of HTTP
// connections open at once across every download. Waiters get permits in arrival order.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <memory>
#include <utility>

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

  // Waits until a permit is free. A released permit goes straight to the oldest waiter, so a
  // caller that releases and acquires again cannot overtake it. Cancelling the caller throws
  // operation_aborted; a permit handed to it in the meantime passes on to the next waiter.
  boost::asio::awaitable<Permit> acquire();

  int in_use() const noexcept { return m_in_use; }

private:
  struct Waiter {
    explicit Waiter(boost::asio::any_io_executor executor) : wake(std::move(executor)) {}
    boost::asio::steady_timer wake;
    bool granted = false;
  };

  void release();

  boost::asio::any_io_executor m_executor;
  int m_limit;
  int m_in_use = 0;
  std::deque<std::shared_ptr<Waiter>> m_waiters;
};

} // namespace timmd::hub

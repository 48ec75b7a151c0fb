// Runs one piece of work per key at a time: callers that arrive while it runs wait for the same
// result instead of starting their own (one download per blob, one metadata request per
// repository and revision).
//
// Thread safety: use from one executor thread only.
#pragma once

#include "proto/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <spdlog/spdlog.h>

#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace timmd::server {

// T must be constructible from proto::Error (a proto::Result<...>).
template <class T> class SingleFlight {
public:
  explicit SingleFlight(boost::asio::any_io_executor executor) : m_executor(std::move(executor)) {}

  // Joins the call in flight for `key`, or starts `work` for it. The work runs detached from
  // the first caller and keeps running to completion. So a caller that is cancelled or
  // disconnects does not cancel it for the others.
  boost::asio::awaitable<T> run(const std::string& key, std::function<boost::asio::awaitable<T>()> work) {
    auto it = m_calls.find(key);
    std::shared_ptr<Call> call;
    if (it != m_calls.end()) {
      call = it->second;
    } else {
      call = std::make_shared<Call>(m_executor);
      m_calls.emplace(key, call);
      start(key, call, std::move(work));
    }

    while (!call->result) {
      co_await call->done.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (!call->result) {
        const auto state = co_await boost::asio::this_coro::cancellation_state;
        if (state.cancelled() != boost::asio::cancellation_type::none) {
          throw boost::system::system_error(boost::asio::error::operation_aborted);
        }
      }
    }
    co_return *call->result;
  }

  bool in_flight(const std::string& key) const { return m_calls.contains(key); }
  std::size_t size() const noexcept { return m_calls.size(); }

private:
  struct Call {
    explicit Call(boost::asio::any_io_executor executor) : done(executor) {
      done.expires_at(boost::asio::steady_timer::time_point::max());
    }
    boost::asio::steady_timer done; // cancelled when `result` is set
    std::optional<T> result;
  };

  void start(const std::string& key, std::shared_ptr<Call> call, std::function<boost::asio::awaitable<T>()> work) {
    auto finish = [this, key, call](T result) {
      call->result.emplace(std::move(result));
      m_calls.erase(key);
      call->done.cancel();
    };
    boost::asio::co_spawn(
        m_executor, [work = std::move(work), finish]() -> boost::asio::awaitable<void> { finish(co_await work()); },
        [key, call, finish](std::exception_ptr error) {
          if (!error || call->result) {
            return;
          }
          std::string what = "unknown exception";
          try {
            std::rethrow_exception(error);
          } catch (const std::exception& e) {
            what = e.what();
          }
          spdlog::error("operation {} failed with an exception: {}", key, what);
          finish(T(proto::make_error(proto::Errc::internal, "operation failed: " + what)));
        });
  }

  boost::asio::any_io_executor m_executor;
  std::map<std::string, std::shared_ptr<Call>> m_calls;
};

} // namespace timmd::server

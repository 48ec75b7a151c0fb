// Runs blocking work (fsync, hashing, SQLite writes) on a worker pool from a coroutine on the
// I/O thread, and resumes the coroutine on its own executor afterwards.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <optional>
#include <type_traits>
#include <utility>

namespace timmd::util {

template <class F>
boost::asio::awaitable<std::invoke_result_t<F>> offload(boost::asio::any_io_executor pool, F work) {
  using R = std::invoke_result_t<F>;

  // co_spawn needs a default-constructible result type, which Result<T> is not always. The
  // task is a named local because GCC 12 destroys class temporaries of a co_await expression
  // twice.
  auto task = [work = std::move(work)]() mutable -> boost::asio::awaitable<std::optional<R>> {
    co_return std::optional<R>(work());
  };
  // The work is not cancellable: the empty slot keeps a cancellation of the awaiting coroutine
  // (a failed download stopping its workers, shutdown) from reaching the task on the pool from
  // the I/O thread, which terminated the daemon. The coroutine resumes once the work is done.
  auto token = boost::asio::bind_cancellation_slot(boost::asio::cancellation_slot(), boost::asio::use_awaitable);
  auto result = co_await boost::asio::co_spawn(pool, std::move(task), token);
  co_return std::move(*result);
}

} // namespace timmd::util

#include "daemon/hub/connection_limiter.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <vector>

namespace asio = boost::asio;
using timmd::hub::ConnectionLimiter;

namespace {

using Permit = ConnectionLimiter::Permit;

// How a spawned coroutine ended.
struct Outcome {
  bool finished = false;
  bool aborted = false; // ended by operation_aborted
  bool other_error = false;
};

auto record_outcome(Outcome& outcome) {
  return [&outcome](std::exception_ptr error) {
    outcome.finished = true;
    if (!error) {
      return;
    }
    try {
      std::rethrow_exception(error);
    } catch (const boost::system::system_error& e) {
      (e.code() == asio::error::operation_aborted ? outcome.aborted : outcome.other_error) = true;
    } catch (...) {
      outcome.other_error = true;
    }
  };
}

// Acquires a permit into `slot` and keeps it there, so the test releases it by resetting `slot`.
void acquire_into(asio::io_context& io, ConnectionLimiter& limiter, std::optional<Permit>& slot) {
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { slot.emplace(co_await limiter.acquire()); }, asio::detached);
}

// A waiter that appends `id` to `order` once it holds a permit and then releases it at once.
void wait_and_record(asio::io_context& io, ConnectionLimiter& limiter, int id, std::vector<int>& order,
                     asio::cancellation_signal& signal, Outcome& outcome) {
  asio::co_spawn(
      io,
      [&limiter, id, &order]() -> asio::awaitable<void> {
        auto permit = co_await limiter.acquire();
        order.push_back(id);
      },
      asio::bind_cancellation_slot(signal.slot(), record_outcome(outcome)));
}

// Runs the handlers that are ready. An io_context that ran out of work stops, so it is
// restarted first.
void run_ready(asio::io_context& io) {
  io.restart();
  io.poll();
}

// Runs until no work is left.
void run_all(asio::io_context& io) {
  io.restart();
  io.run();
}

asio::awaitable<void> yield_once() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

} // namespace

TEST_CASE("limiter: grants up to limit at once") {
  asio::io_context io;
  ConnectionLimiter limiter(io.get_executor(), 2);
  std::optional<Permit> first;
  std::optional<Permit> second;
  std::optional<Permit> third;

  acquire_into(io, limiter, first);
  acquire_into(io, limiter, second);
  acquire_into(io, limiter, third);
  run_ready(io);

  CHECK(first.has_value());
  CHECK(second.has_value());
  CHECK_FALSE(third.has_value());
  CHECK(limiter.in_use() == 2);

  first.reset();
  run_ready(io);
  CHECK(third.has_value());
  CHECK(limiter.in_use() == 2);

  second.reset();
  third.reset();
  CHECK(limiter.in_use() == 0);
}

TEST_CASE("limiter: never exceeds limit") {
  asio::io_context io;
  ConnectionLimiter limiter(io.get_executor(), 3);
  int holding = 0;
  int max_holding = 0;
  int done = 0;

  for (int i = 0; i < 20; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto permit = co_await limiter.acquire();
          ++holding;
          max_holding = std::max(max_holding, holding);
          for (int step = 0; step < 3; ++step) {
            co_await yield_once();
          }
          --holding;
          ++done;
        },
        asio::detached);
  }
  run_all(io);

  CHECK(done == 20);
  CHECK(max_holding == 3);
  CHECK(limiter.in_use() == 0);
}

TEST_CASE("limiter: limit below one treated as one") {
  asio::io_context io;
  ConnectionLimiter limiter(io.get_executor(), 0);
  std::optional<Permit> first;
  std::optional<Permit> second;

  acquire_into(io, limiter, first);
  acquire_into(io, limiter, second);
  run_ready(io);

  CHECK(first.has_value());
  CHECK_FALSE(second.has_value());

  first.reset();
  run_ready(io);
  CHECK(second.has_value());
}

TEST_CASE("limiter: waiters served in arrival order") {
  asio::io_context io;
  ConnectionLimiter limiter(io.get_executor(), 1);
  std::optional<Permit> blocking_permit;
  acquire_into(io, limiter, blocking_permit);
  run_ready(io);
  REQUIRE(blocking_permit.has_value());

  std::vector<int> order;
  std::vector<asio::cancellation_signal> signals(4);
  std::vector<Outcome> outcomes(4);
  for (int id = 0; id < 4; ++id) {
    wait_and_record(io, limiter, id, order, signals[static_cast<std::size_t>(id)],
                    outcomes[static_cast<std::size_t>(id)]);
  }
  run_ready(io);
  CHECK(order.empty());

  blocking_permit.reset();
  run_all(io);

  CHECK(order == std::vector<int>{0, 1, 2, 3});
  CHECK(limiter.in_use() == 0);
}

TEST_CASE("limiter: cancelled waiter leaves queue") {
  asio::io_context io;
  ConnectionLimiter limiter(io.get_executor(), 1);
  std::optional<Permit> blocking_permit;
  acquire_into(io, limiter, blocking_permit);
  run_ready(io);

  std::vector<int> order;
  asio::cancellation_signal cancelled_signal;
  asio::cancellation_signal other_signal;
  Outcome cancelled;
  Outcome other;
  wait_and_record(io, limiter, 1, order, cancelled_signal, cancelled);
  wait_and_record(io, limiter, 2, order, other_signal, other);
  run_ready(io);

  cancelled_signal.emit(asio::cancellation_type::terminal);
  run_ready(io);
  CHECK(cancelled.finished);
  CHECK(cancelled.aborted);
  CHECK(limiter.in_use() == 1);

  blocking_permit.reset();
  run_all(io);
  CHECK(order == std::vector<int>{2});
  CHECK(other.finished);
  CHECK_FALSE(other.aborted);
  CHECK(limiter.in_use() == 0);
}

TEST_CASE("limiter: cancelled waiter passes wake-up on") {
  asio::io_context io;
  ConnectionLimiter limiter(io.get_executor(), 1);
  std::optional<Permit> blocking_permit;
  acquire_into(io, limiter, blocking_permit);
  run_ready(io);

  std::vector<int> order;
  asio::cancellation_signal first_signal;
  asio::cancellation_signal second_signal;
  Outcome first;
  Outcome second;
  wait_and_record(io, limiter, 1, order, first_signal, first);
  wait_and_record(io, limiter, 2, order, second_signal, second);
  run_ready(io);

  // Both inside one handler, so the cancellation reaches the waiter before it resumes.
  asio::post(io, [&] {
    blocking_permit.reset();
    first_signal.emit(asio::cancellation_type::terminal);
  });
  run_ready(io);

  CHECK(first.aborted);
  CHECK(order == std::vector<int>{2});
  CHECK(second.finished);

  // Ends a waiter that is still queued, so the io_context holds no pending coroutine.
  second_signal.emit(asio::cancellation_type::terminal);
  run_ready(io);
}

TEST_CASE("limiter: woken waiter keeps its turn") {
  asio::io_context io;
  ConnectionLimiter limiter(io.get_executor(), 1);
  std::vector<int> order;
  std::optional<Permit> recycled;
  asio::cancellation_signal recycle_signal;
  Outcome recycler;

  acquire_into(io, limiter, recycled);
  run_ready(io);

  std::vector<asio::cancellation_signal> signals(2);
  std::vector<Outcome> outcomes(2);
  wait_and_record(io, limiter, 1, order, signals[0], outcomes[0]);
  wait_and_record(io, limiter, 2, order, signals[1], outcomes[1]);
  run_ready(io);

  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        recycled.reset();
        auto again = co_await limiter.acquire();
        order.push_back(0);
        co_await yield_once();
      },
      asio::bind_cancellation_slot(recycle_signal.slot(), record_outcome(recycler)));
  run_all(io);

  CHECK(order == std::vector<int>{1, 2, 0});
  CHECK(limiter.in_use() == 0);
}

TEST_CASE("limiter: moved permit released once") {
  asio::io_context io;
  ConnectionLimiter limiter(io.get_executor(), 2);
  std::optional<Permit> first;
  std::optional<Permit> second;
  acquire_into(io, limiter, first);
  acquire_into(io, limiter, second);
  run_ready(io);
  REQUIRE(limiter.in_use() == 2);

  Permit moved(std::move(*first));
  first.reset();
  CHECK(limiter.in_use() == 2);

  moved = std::move(*second);
  CHECK(limiter.in_use() == 1);

  second.reset();
  CHECK(limiter.in_use() == 1);

  moved = Permit();
  CHECK(limiter.in_use() == 0);
}

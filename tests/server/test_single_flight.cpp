#include "daemon/server/single_flight.hpp"

#include "server_test_support.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <doctest/doctest.h>

#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace asio = boost::asio;
using timmd::proto::Errc;
using timmd::server::SingleFlight;

namespace {

using IntResult = timmd::proto::Result<int>;
using Work = std::function<asio::awaitable<IntResult>()>;

// What one caller of SingleFlight::run saw.
struct Caller {
  std::optional<IntResult> result;
  bool aborted = false;
};

// Work that counts its runs, waits until `gate` is cancelled, then returns `value`.
struct GatedWork {
  explicit GatedWork(asio::io_context& io) : gate(io, asio::steady_timer::time_point::max()) {}

  Work make(int value) {
    return [this, value]() -> asio::awaitable<IntResult> {
      ++runs;
      co_await gate.async_wait(asio::as_tuple(asio::use_awaitable));
      ++completions;
      co_return IntResult(value);
    };
  }

  asio::steady_timer gate;
  int runs = 0;
  int completions = 0;
};

void call(asio::io_context& io, SingleFlight<IntResult>& flight, std::string key, Work work, Caller& caller,
          asio::cancellation_signal* signal = nullptr) {
  auto body = [&flight, key = std::move(key), work = std::move(work), &caller]() -> asio::awaitable<void> {
    caller.result = co_await flight.run(key, work);
  };
  auto on_done = [&caller](std::exception_ptr error) {
    if (!error) {
      return;
    }
    try {
      std::rethrow_exception(error);
    } catch (const boost::system::system_error& e) {
      caller.aborted = e.code() == asio::error::operation_aborted;
    }
  };
  if (signal != nullptr) {
    asio::co_spawn(io, std::move(body), asio::bind_cancellation_slot(signal->slot(), std::move(on_done)));
  } else {
    asio::co_spawn(io, std::move(body), std::move(on_done));
  }
}

// Runs the handlers that are ready. An io_context that ran out of work stops, so it is
// restarted first.
void run_ready(asio::io_context& io) {
  io.restart();
  io.poll();
}

void run_all(asio::io_context& io) {
  io.restart();
  io.run();
}

} // namespace

TEST_CASE("single_flight: concurrent callers share one run") {
  asio::io_context io;
  SingleFlight<IntResult> flight(io.get_executor());
  GatedWork work(io);
  std::vector<Caller> callers(3);

  for (auto& caller : callers) {
    call(io, flight, "blob", work.make(42), caller);
  }
  run_ready(io);
  CHECK(work.runs == 1);
  CHECK(flight.in_flight("blob"));

  work.gate.cancel();
  run_all(io);

  CHECK(work.completions == 1);
  for (const auto& caller : callers) {
    REQUIRE(caller.result.has_value());
    REQUIRE(caller.result->has_value());
    CHECK(**caller.result == 42);
  }
  CHECK_FALSE(flight.in_flight("blob"));
  CHECK(flight.size() == 0);
}

TEST_CASE("single_flight: different keys run separately") {
  asio::io_context io;
  SingleFlight<IntResult> flight(io.get_executor());
  GatedWork work(io);
  Caller first;
  Caller second;

  call(io, flight, "a", work.make(1), first);
  call(io, flight, "b", work.make(2), second);
  run_ready(io);
  CHECK(work.runs == 2);
  CHECK(flight.size() == 2);

  work.gate.cancel();
  run_all(io);
  REQUIRE(first.result.has_value());
  REQUIRE(second.result.has_value());
  CHECK(**first.result == 1);
  CHECK(**second.result == 2);
}

TEST_CASE("single_flight: finished key runs again") {
  asio::io_context io;
  SingleFlight<IntResult> flight(io.get_executor());
  GatedWork work(io);
  Caller first;
  Caller second;

  call(io, flight, "blob", work.make(1), first);
  run_ready(io);
  work.gate.cancel();
  run_all(io);

  work.gate.expires_at(asio::steady_timer::time_point::max());
  call(io, flight, "blob", work.make(2), second);
  run_ready(io);
  work.gate.cancel();
  run_all(io);

  CHECK(work.runs == 2);
  REQUIRE(second.result.has_value());
  CHECK(**second.result == 2);
}

TEST_CASE("single_flight: cancelled caller leaves work running") {
  asio::io_context io;
  SingleFlight<IntResult> flight(io.get_executor());
  GatedWork work(io);
  asio::cancellation_signal signal;
  Caller cancelled;
  Caller waiting;

  call(io, flight, "blob", work.make(7), cancelled, &signal);
  call(io, flight, "blob", work.make(8), waiting);
  run_ready(io);

  signal.emit(asio::cancellation_type::terminal);
  run_ready(io);
  CHECK(cancelled.aborted);
  CHECK_FALSE(cancelled.result.has_value());
  CHECK(flight.in_flight("blob"));

  work.gate.cancel();
  run_all(io);
  CHECK(work.runs == 1);
  CHECK(work.completions == 1);
  REQUIRE(waiting.result.has_value());
  CHECK(**waiting.result == 7);
}

TEST_CASE("single_flight: work finishes without callers") {
  asio::io_context io;
  SingleFlight<IntResult> flight(io.get_executor());
  GatedWork work(io);
  asio::cancellation_signal signal;
  Caller only;

  call(io, flight, "blob", work.make(3), only, &signal);
  run_ready(io);
  signal.emit(asio::cancellation_type::terminal);
  run_ready(io);
  CHECK(only.aborted);

  work.gate.cancel();
  run_all(io);
  CHECK(work.completions == 1);
  CHECK_FALSE(flight.in_flight("blob"));
}

TEST_CASE("single_flight: error shared") {
  asio::io_context io;
  SingleFlight<IntResult> flight(io.get_executor());
  Work failing = []() -> asio::awaitable<IntResult> {
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    co_return timmd::proto::make_error(Errc::not_found, "no such file");
  };
  Caller first;
  Caller second;

  call(io, flight, "blob", failing, first);
  call(io, flight, "blob", failing, second);
  run_all(io);

  for (const auto* caller : {&first, &second}) {
    REQUIRE(caller->result.has_value());
    REQUIRE_FALSE(caller->result->has_value());
    CHECK(caller->result->error().code == Errc::not_found);
  }
}

TEST_CASE("single_flight: exception becomes internal error") {
  asio::io_context io;
  SingleFlight<IntResult> flight(io.get_executor());
  Work throwing = []() -> asio::awaitable<IntResult> {
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    throw std::runtime_error("disk controller reset");
  };
  Caller first;
  Caller second;

  call(io, flight, "blob", throwing, first);
  call(io, flight, "blob", throwing, second);
  run_all(io);

  for (const auto* caller : {&first, &second}) {
    REQUIRE(caller->result.has_value());
    REQUIRE_FALSE(caller->result->has_value());
    CHECK(caller->result->error().code == Errc::internal);
    CHECK(caller->result->error().message.find("disk controller reset") != std::string::npos);
  }
  CHECK_FALSE(flight.in_flight("blob"));
}

TEST_CASE("single_flight: exception before first suspension") {
  asio::io_context io;
  SingleFlight<IntResult> flight(io.get_executor());
  Work throwing = []() -> asio::awaitable<IntResult> {
    throw std::runtime_error("bad argument");
    co_return IntResult(0);
  };
  Caller caller;

  call(io, flight, "blob", throwing, caller);
  run_all(io);

  REQUIRE(caller.result.has_value());
  REQUIRE_FALSE(caller.result->has_value());
  CHECK(caller.result->error().code == Errc::internal);
}

#include "daemon/hub/connection_limits.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>

#include <optional>
#include <string>

namespace asio = boost::asio;
using timmd::hub::ConnectionLimits;

namespace {

constexpr auto k_cdn = "https://cdn.example:443/repos/a/b";
constexpr auto k_cdn_other_path = "https://CDN.example/repos/c/d";
constexpr auto k_hub = "https://hub.example/org/repo/resolve/main/x";

// Acquires both permits for `url` into `slot`, so that the test releases them by resetting it.
void acquire_into(asio::io_context& io, ConnectionLimits& limits, const std::string& url,
                  std::optional<ConnectionLimits::Permits>& slot) {
  asio::co_spawn(
      io, [&limits, url, &slot]() -> asio::awaitable<void> { slot.emplace(co_await limits.acquire(url)); },
      asio::detached);
}

void run_ready(asio::io_context& io) {
  io.restart();
  io.poll();
}

} // namespace

TEST_CASE("limits: each host held to its own limit") {
  asio::io_context io;
  ConnectionLimits limits(io.get_executor(), 4, 2);
  std::optional<ConnectionLimits::Permits> cdn1, cdn2, cdn3, hub1;

  acquire_into(io, limits, k_cdn, cdn1);
  acquire_into(io, limits, k_cdn_other_path, cdn2);
  acquire_into(io, limits, k_cdn, cdn3);
  acquire_into(io, limits, k_hub, hub1);
  run_ready(io);

  // The default port and the case of the host name do not make another host.
  CHECK(cdn1.has_value());
  CHECK(cdn2.has_value());
  CHECK_FALSE(cdn3.has_value());
  CHECK(hub1.has_value());
  CHECK(limits.host_in_use(k_cdn) == 2);
  CHECK(limits.host_in_use(k_hub) == 1);
  // The waiting CDN request holds no global permit.
  CHECK(limits.total_in_use() == 3);

  cdn1.reset();
  run_ready(io);
  CHECK(cdn3.has_value());
  CHECK(limits.total_in_use() == 3);
}

TEST_CASE("limits: global limit binds across hosts") {
  asio::io_context io;
  ConnectionLimits limits(io.get_executor(), 2, 2);
  std::optional<ConnectionLimits::Permits> cdn1, hub1, hub2;

  acquire_into(io, limits, k_cdn, cdn1);
  acquire_into(io, limits, k_hub, hub1);
  acquire_into(io, limits, k_hub, hub2);
  run_ready(io);

  CHECK(cdn1.has_value());
  CHECK(hub1.has_value());
  CHECK_FALSE(hub2.has_value());
  // hub2 holds its host permit while it waits for a global one.
  CHECK(limits.host_in_use(k_hub) == 2);

  cdn1.reset();
  run_ready(io);
  CHECK(hub2.has_value());
  CHECK(limits.total_in_use() == 2);
}

TEST_CASE("limits: cancelled wait returns host permit") {
  asio::io_context io;
  ConnectionLimits limits(io.get_executor(), 1, 4);
  std::optional<ConnectionLimits::Permits> first;
  acquire_into(io, limits, k_hub, first);
  run_ready(io);
  REQUIRE(first.has_value());

  asio::cancellation_signal signal;
  bool aborted = false;
  asio::co_spawn(
      io, [&limits]() -> asio::awaitable<void> { auto permits = co_await limits.acquire(k_cdn); },
      asio::bind_cancellation_slot(signal.slot(),
                                   [&aborted](std::exception_ptr error) { aborted = error != nullptr; }));
  run_ready(io);
  CHECK(limits.host_in_use(k_cdn) == 1);

  signal.emit(asio::cancellation_type::terminal);
  run_ready(io);
  CHECK(aborted);
  CHECK(limits.host_in_use(k_cdn) == 0);
  CHECK(limits.total_in_use() == 1);
}

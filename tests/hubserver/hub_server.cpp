#include "tests/hubserver/hub_server.hpp"

#include "tests/hubserver/connection.hpp"
#include "tests/hubserver/repository_store.hpp"
#include "tests/hubserver/router.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <optional>
#include <stdexcept>
#include <thread>

namespace timmd::testhub {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

void log_escaped_exception(std::exception_ptr exception, const char* source) {
  if (!exception) {
    return;
  }
  try {
    std::rethrow_exception(exception);
  } catch (const std::exception& error) {
    spdlog::error("{} ended with an exception: {}", source, error.what());
  }
}

asio::awaitable<void> accept_connections(tcp::acceptor& acceptor, std::string listener, ConnectionContext& context) {
  for (;;) {
    tcp::socket socket(asio::make_strand(acceptor.get_executor()));
    auto [error] = co_await acceptor.async_accept(socket, asio::as_tuple(asio::use_awaitable));
    if (error == asio::error::operation_aborted || !acceptor.is_open()) {
      co_return;
    }
    if (error) {
      // Running out of descriptors must not spin the loop, so wait for connections to close.
      spdlog::warn("{} listener: accept failed: {}", listener, error.message());
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, serve_connection(std::move(socket), listener, context),
                   [](std::exception_ptr exception) { log_escaped_exception(exception, "connection"); });
  }
}

std::string base_url(const std::string& host, std::uint16_t port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return "http://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

void bind_listener(tcp::acceptor& acceptor, const std::string& host, std::uint16_t port) {
  const tcp::endpoint endpoint(asio::ip::make_address(host), port);
  // The fake Hub has no TLS and injects faults on request, so it must not be reachable from
  // the network.
  if (!endpoint.address().is_loopback()) {
    throw std::invalid_argument("host " + host + " is not a loopback address: use 127.0.0.1 or ::1");
  }
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
}

} // namespace

// Member order matters: the io_context is destroyed first, and with it every suspended
// connection coroutine, which still refers to the context, router, faults and log above it.
struct Server::Impl {
  explicit Impl(Options server_options)
      : options(std::move(server_options)), store(options.repos_root), io(std::max(1, options.threads)) {}

  Options options;
  RepositoryStore store;
  FaultList faults;
  RequestLog log;
  std::optional<Router> router;
  std::optional<ConnectionContext> context;
  std::uint16_t api_port = 0;
  std::uint16_t cdn_port = 0;
  bool started = false;
  bool stopped = false;
  asio::io_context io;
  tcp::acceptor api_acceptor{io};
  tcp::acceptor cdn_acceptor{io};
  std::vector<std::thread> threads;
};

Server::Server(Options options) : m_impl(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() {
  stop();
}

void Server::start() {
  auto& impl = *m_impl;
  if (impl.started) {
    throw std::logic_error("Server::start called twice");
  }
  impl.started = true;
  impl.store.load_all();

  try {
    bind_listener(impl.api_acceptor, impl.options.host, impl.options.api_port);
    bind_listener(impl.cdn_acceptor, impl.options.host, impl.options.cdn_port);
  } catch (const boost::system::system_error& error) {
    throw std::system_error(error.code(), "cannot listen on " + impl.options.host);
  }
  impl.api_port = impl.api_acceptor.local_endpoint().port();
  impl.cdn_port = impl.cdn_acceptor.local_endpoint().port();

  RouterSettings settings;
  settings.token = impl.options.token;
  settings.tree_page_size = impl.options.tree_page_size;
  settings.api_base = base_url(impl.options.host, impl.api_port);
  settings.cdn_base = base_url(impl.options.host, impl.cdn_port);
  impl.router.emplace(impl.store, std::move(settings));
  impl.context.emplace(*impl.router, impl.faults, impl.log, impl.options.throttle_bytes_per_second);
  impl.context->link_bytes_per_second = impl.options.link_bytes_per_second;

  for (auto* acceptor : {&impl.api_acceptor, &impl.cdn_acceptor}) {
    const char* listener = acceptor == &impl.api_acceptor ? "api" : "cdn";
    asio::co_spawn(impl.io, accept_connections(*acceptor, listener, *impl.context),
                   [](std::exception_ptr exception) { log_escaped_exception(exception, "listener"); });
  }
  for (int i = 0; i < std::max(1, impl.options.threads); ++i) {
    impl.threads.emplace_back([&io = impl.io] { io.run(); });
  }
  spdlog::info("test hub serving {} on {} (CDN {})", impl.options.repos_root.string(), endpoint(), cdn_endpoint());
}

void Server::stop() {
  auto& impl = *m_impl;
  if (!impl.started || impl.stopped) {
    return;
  }
  impl.stopped = true;
  impl.io.stop();
  for (auto& thread : impl.threads) {
    thread.join();
  }
  impl.threads.clear();
  boost::system::error_code ignored;
  impl.api_acceptor.close(ignored);
  impl.cdn_acceptor.close(ignored);
}

std::uint16_t Server::api_port() const {
  return m_impl->api_port;
}

std::uint16_t Server::cdn_port() const {
  return m_impl->cdn_port;
}

std::string Server::endpoint() const {
  return base_url(m_impl->options.host, m_impl->api_port);
}

std::string Server::cdn_endpoint() const {
  return base_url(m_impl->options.host, m_impl->cdn_port);
}

void Server::add_fault(Fault fault) {
  m_impl->faults.add(std::move(fault));
}

void Server::clear_faults() {
  m_impl->faults.clear();
}

std::vector<RequestRecord> Server::requests() const {
  return m_impl->log.records();
}

void Server::clear_requests() {
  m_impl->log.clear();
}

std::string Server::set_ref(const std::string& repo, const std::string& ref, const std::filesystem::path& tree_dir) {
  return m_impl->store.set_ref(repo, ref, tree_dir);
}

} // namespace timmd::testhub

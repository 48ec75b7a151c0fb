#include "daemon/server/daemon.hpp"

#include "daemon/hub/curl_multi.hpp"
#include "daemon/hub/hub_client.hpp"
#include "daemon/registry/registry.hpp"
#include "daemon/registry/reloadable_registry.hpp"
#include "daemon/registry/user_aliases.hpp"
#include "daemon/server/pull_service.hpp"
#include "daemon/server/registry_reload.hpp"
#include "daemon/server/rules_reload.hpp"
#include "daemon/server/session.hpp"
#include "daemon/server/unix_listener.hpp"
#include "daemon/store/blob_store.hpp"
#include "daemon/store/cache_layout.hpp"
#include "daemon/store/filesystem_kind.hpp"
#include "daemon/store/index.hpp"
#include "daemon/store/repair.hpp"
#include "proto/count_noun.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>
#include <fmt/ranges.h>
#include <systemd/sd-daemon.h>

#include <csignal>
#include <map>
#include <memory>

#include <unistd.h>

namespace asio = boost::asio;

namespace timmd::server {
namespace {

constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto k_drain_timeout = std::chrono::seconds(3);

hub::HubSettings hub_settings(const Config& config) {
  hub::HubSettings settings;
  settings.endpoint = config.endpoint;
  settings.token = config.token;
  settings.connect_timeout = config.download.connect_timeout;
  settings.stall_timeout = config.download.stall_timeout;
  settings.retry.max_attempts = config.download.retry_attempts;
  settings.retry.base_delay = config.download.retry_base_delay;
  settings.retry.max_delay = config.download.retry_max_delay;
  return settings;
}

// An io_context whose queued handlers can be destroyed before the objects they use.
class IoContext : public asio::io_context {
public:
  using asio::io_context::io_context;

  // Shuts the services down: every pending operation and coroutine frame is destroyed. I/O
  // objects may still be destroyed afterwards; they must not be used.
  void destroy_pending_handlers() { shutdown(); }
};

// Everything that lives on the I/O thread, in construction order; destroyed in reverse after
// the io_context has drained.
class Server {
public:
  Server(const Config& config, store::Index& index, const store::CacheLayout& layout, const store::BlobStore& blobs,
         registry::ReloadableRegistry& registry, const registry::UserAliases& aliases, asio::io_context& io,
         asio::thread_pool& pool, Acceptor acceptor, ListenerInfo listener, std::shared_ptr<const remap::RuleSet> rules,
         const AccessPolicy& access)
      : m_io(io), m_multi(io.get_executor()), m_hub(m_multi, hub_settings(config)),
        m_pulls(io.get_executor(), pool.get_executor(), config, index, layout, blobs, m_hub, m_leases),
        m_opens(io.get_executor(), pool.get_executor(), m_pulls, index, layout, blobs, std::move(rules)),
        m_context{config,   access,  m_pulls,  m_opens, m_leases, index, layout, blobs, pool.get_executor(),
                  registry, aliases, std::move(listener)},
        m_acceptor(std::move(acceptor)), m_signals(io, SIGINT, SIGTERM, SIGHUP) {}

  void start() {
    asio::co_spawn(m_io, accept_loop(), [](std::exception_ptr error) { log_escaped("accept loop", error); });
    asio::co_spawn(m_io, signal_loop(), [](std::exception_ptr error) { log_escaped("signal handler", error); });
  }

  const ServerContext& context() const { return m_context; }

private:
  static void log_escaped(const char* what, std::exception_ptr error) {
    if (!error) {
      return;
    }
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      spdlog::error("{} ended with an exception: {}", what, e.what());
    }
  }

  asio::awaitable<void> accept_loop() {
    std::uint64_t next_id = 1;
    asio::steady_timer backoff(m_io);
    while (m_acceptor.is_open()) {
      auto [ec, socket] = co_await m_acceptor.async_accept(k_tuple);
      if (ec == asio::error::operation_aborted || !m_acceptor.is_open()) {
        break;
      }
      if (ec) {
        // EMFILE and friends: wait a little instead of spinning.
        spdlog::error("accepting a client failed: {}", ec.message());
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(k_tuple);
        continue;
      }
      if (m_context.sessions >= m_context.config.max_clients) {
        spdlog::warn("rejecting a client: {} clients are connected (max_clients)", m_context.sessions);
        continue;
      }

      const auto id = next_id++;
      auto session = std::make_shared<Session>(std::move(socket), m_context, id);
      m_sessions[id] = session;
      ++m_context.sessions;
      asio::co_spawn(m_io, session->run(), [this, id](std::exception_ptr error) {
        log_escaped("client session", error);
        m_sessions.erase(id);
        --m_context.sessions;
      });
    }
  }

  asio::awaitable<void> signal_loop() {
    while (true) {
      auto [ec, signal] = co_await m_signals.async_wait(k_tuple);
      if (ec) {
        co_return;
      }
      if (signal == SIGHUP) {
        // The results are logged by the reloads; a failed one keeps what was loaded before.
        (void)reload_registry(m_context.config, m_context.registry, "SIGHUP");
        (void)reload_remap_rules(m_context.config, m_opens, "SIGHUP");
        continue;
      }
      if (m_context.shutting_down) {
        spdlog::warn("received signal {} again: stopping downloads now", signal);
        m_pulls.abort_transfers();
        continue;
      }
      spdlog::info("received signal {}: shutting down, waiting up to {} s for requests in progress", signal,
                   m_context.config.shutdown_grace.count());
      asio::co_spawn(m_io, shut_down(), [](std::exception_ptr error) { log_escaped("shutdown", error); });
    }
  }

  // Shuts down in two phases. Phase 1 lets requests finish within the grace period and rejects
  // new ones with `busy`. The socket keeps accepting, so a client gets that error instead of a
  // refused connection. Phase 2 aborts what is left, keeping completed chunks recorded for
  // resume, and closes the socket and every connection.
  asio::awaitable<void> shut_down() {
    m_context.shutting_down = true;
    sd_notify(0, "STOPPING=1");
    for (auto& [id, session] : m_sessions) {
      if (auto alive = session.lock(); alive && !alive->busy()) {
        alive->close();
      }
    }

    asio::steady_timer tick(m_io);
    const auto deadline = std::chrono::steady_clock::now() + m_context.config.shutdown_grace;
    while ((m_context.active_requests > 0 || m_pulls.active_downloads() > 0) &&
           std::chrono::steady_clock::now() < deadline) {
      tick.expires_after(std::chrono::milliseconds(50));
      co_await tick.async_wait(k_tuple);
    }
    if (m_context.active_requests > 0 || m_pulls.active_downloads() > 0) {
      spdlog::warn("shutdown grace period over with {} and {} in progress; aborting them (completed chunks "
                   "are kept for resume)",
                   proto::count_noun(m_context.active_requests, "request", "requests"),
                   proto::count_noun(m_pulls.active_downloads(), "download", "downloads"));
      m_pulls.abort_transfers();
    }

    const auto drain_deadline = std::chrono::steady_clock::now() + k_drain_timeout;
    while ((m_context.active_requests > 0 || m_pulls.active_downloads() > 0) &&
           std::chrono::steady_clock::now() < drain_deadline) {
      tick.expires_after(std::chrono::milliseconds(20));
      co_await tick.async_wait(k_tuple);
    }
    boost::system::error_code ignored;
    m_acceptor.close(ignored);
    for (auto& [id, session] : m_sessions) {
      if (auto alive = session.lock()) {
        alive->close();
      }
    }
    m_signals.cancel();
    m_multi.abort_all();
    m_io.stop();
  }

  asio::io_context& m_io;
  hub::CurlMulti m_multi;
  hub::HubClient m_hub;
  LeaseTable m_leases;
  PullService m_pulls;
  OpenService m_opens;
  ServerContext m_context;
  Acceptor m_acceptor;
  asio::signal_set m_signals;
  std::map<std::uint64_t, std::weak_ptr<Session>> m_sessions;
};

} // namespace

int run_daemon(const Config& config) {
  std::signal(SIGPIPE, SIG_IGN);
  spdlog::info("timmd starting: pid {}, cache {}, endpoint {}, token {}{}", getpid(), config.cache_dir.string(),
               config.endpoint, config.token.empty() ? "not set" : "from ",
               config.token.empty() ? "" : config.token_source, config.offline ? ", offline" : "");
  if (config.debug_skip_verify) {
    spdlog::warn("--debug-skip-verify is set: LFS downloads are published without checking their SHA-256; "
                 "this is for benchmarks, and the cache may hold corrupt blobs afterwards");
  }

  auto layout = store::CacheLayout::open(config.cache_dir);
  if (!layout) {
    spdlog::critical("{}", layout.error().message);
    return 1;
  }
  if (auto local = store::check_local_filesystem(layout->root()); !local) {
    if (!config.allow_network_cache) {
      spdlog::critical("{}", local.error().message);
      return 1;
    }
    spdlog::warn("{} (allowed by allow_network_cache)", local.error().message);
  }
  auto index = store::Index::open(layout->index_path());
  if (!index) {
    spdlog::critical("{}", index.error().message);
    return 1;
  }
  const store::BlobStore blobs(*layout);

  // The cache lock is held, so no other process has downloads in flight: no grace period.
  auto repaired = store::repair_cache(**index, *layout, blobs, std::chrono::seconds(0));
  if (!repaired) {
    spdlog::critical("cache repair failed: {}", repaired.error().message);
    return 1;
  }
  const auto& report = *repaired;
  spdlog::info("cache checked: {} index rows without files removed, {} files adopted, {} files removed, "
               "{} partials removed, {} stale download rows removed",
               report.blob_rows_removed, report.blob_files_adopted, report.blob_files_removed, report.partials_removed,
               report.download_rows_removed);

  const auto files = configured_registry_files(config);
  auto loaded = registry::Registry::load(files);
  if (!loaded) {
    spdlog::critical("cannot load the model registry: {}", loaded.error().message);
    return 1;
  }
  registry::ReloadableRegistry registry(*loaded);
  auto aliases = registry::UserAliases::from_json(config.aliases);
  if (!aliases) {
    spdlog::critical("invalid 'aliases' in the configuration: {}", aliases.error().message);
    return 1;
  }
  spdlog::info("registry loaded: {} architectures, {} pretrained tags from {} files ({})",
               (*loaded)->architectures().size(), (*loaded)->tag_count(), files.size(), config.registry_dir.string());

  auto access = AccessPolicy::from_json(config.access);
  if (!access) {
    spdlog::critical("invalid 'access' in the configuration: {}; it is an object such as "
                     "{{\"access\": {{\"download\": [\"group:ml\"]}}}}",
                     access.error().message);
    return 2;
  }
  for (const auto level : {Access::read, Access::download, Access::admin}) {
    spdlog::info("access {}: {}", to_string(level), fmt::format("{}", fmt::join(access->principals(level), ", ")));
  }

  std::vector<proto::Error> rejected;
  auto rules = std::make_shared<const remap::RuleSet>(remap::RuleSet::load_valid(config.remap_dir, rejected));
  for (const auto& error : rejected) {
    spdlog::error("remap rules rejected, models of that family are served without its conversions until it is "
                  "fixed and reloaded: {}",
                  error.message);
  }
  spdlog::info("remap rules loaded: {} files from {}", rules->files().size(), config.remap_dir.string());

  IoContext io(1);
  asio::thread_pool pool(2);
  ListenerInfo listener;
  auto acceptor = open_listener(io, config.socket_path, config.socket_mode, listener);
  if (!acceptor) {
    spdlog::critical("{}", acceptor.error().message);
    return 1;
  }

  int status = 0;
  {
    Server server(config, **index, *layout, blobs, registry, *aliases, io, pool, std::move(*acceptor), listener,
                  std::move(rules), *access);
    server.start();
    sd_notify(0, "READY=1\nSTATUS=serving");
    spdlog::info("timmd ready: listening on {}{}", listener.path.string(),
                 listener.inherited ? " (socket activation)" : "");
    io.run();

    // Run what became ready while stopping. Then destroy the handlers still queued (coroutine
    // frames that did not finish while draining) while the objects they refer to are alive,
    // because the io_context destructor would destroy them after `server`.
    io.restart();
    io.poll();
    io.destroy_pending_handlers();
  }
  pool.join();

  if (!listener.inherited) {
    ::unlink(listener.path.c_str());
  }
  spdlog::info("timmd stopped");
  return status;
}

} // namespace timmd::server
